"""The Math tab's term-by-term view for BatchNorm, LayerNorm, residual blocks and dropout: every number it shows
for one element of ∂L/∂a_{l-1} equals what torch autograd computes on a network written here in plain torch."""
import dataclasses

import pytest
import torch
import torch.nn.functional as F

from engine.inspector.equations import input_term_example
from engine.inspector.materialize import materialize
from engine.inspector.presets import preset
from engine.inspector.spec import LayerSpec, NetworkSpec
from engine.inspector.trace import trace

EPS = 1e-5


def _staged_norm(h: torch.Tensor, dim: int):
    """x̂ from h along `dim` in separate steps, so that μ and σ² are tensors autograd gives gradients for."""
    mu = h.mean(dim=dim, keepdim=True)
    var = ((h - mu) ** 2).mean(dim=dim, keepdim=True)
    mu.retain_grad()
    var.retain_grad()
    return (h - mu) / torch.sqrt(var + EPS), mu, var


def _batchnorm_spec() -> NetworkSpec:
    """The batchnorm preset with γ and β away from their defaults 1 and 0 (so a dropped γ would show)."""
    spec = preset("batchnorm")
    bn = dataclasses.replace(spec.layers[1], weight=[1.5, -0.7, 0.3, 2.0, 1.1, -1.2], bias=[0.1] * 6)
    return dataclasses.replace(spec, layers=[spec.layers[0], bn, spec.layers[2]])


@pytest.mark.parametrize("r,j", [(0, 0), (3, 1), (7, 5)])
def test_batchnorm_element_numbers_equal_autograd_through_mu_and_var(r, j):
    spec = _batchnorm_spec()
    m = materialize(spec)
    (w1, b1), (gamma, beta), (w3, b3) = ([p[k] for k in p] for p in m.params)
    h = (m.x @ w1.T + b1).requires_grad_(True)  # the BatchNorm's input a_1 (8, 6)
    x_hat, mu, var = _staged_norm(h, 0)
    F.cross_entropy(torch.tanh(gamma * x_hat + beta) @ w3.T + b3, m.y).backward()
    ex = input_term_example(trace(spec), 2, r, j)
    n = ex.numbers
    assert n["dL_dvar"] == pytest.approx(var.grad[0, j].item(), rel=1e-9, abs=1e-15)
    assert n["dL_dmu"] == pytest.approx(mu.grad[0, j].item(), rel=1e-9, abs=1e-15)
    assert n["mean"] == pytest.approx(mu[0, j].item()) and n["gamma"] == gamma[j].item()
    assert ex.total == pytest.approx(h.grad[r, j].item(), rel=1e-9, abs=1e-15)
    assert n["path_xhat"] + n["path_var"] + n["path_mu"] == pytest.approx(ex.total, rel=1e-9, abs=1e-15)
    assert len(ex.lines) == 6 and r"\frac{\gamma}{B\sigma}" in ex.lines[-1][1]


def test_batchnorm_total_equals_nn_batchnorm1d():
    spec = _batchnorm_spec()
    m = materialize(spec)
    bn = torch.nn.BatchNorm1d(6, dtype=torch.float64)
    with torch.no_grad():
        bn.weight.copy_(m.params[1]["weight"])
        bn.bias.copy_(m.params[1]["bias"])
    h = (m.x @ m.params[0]["weight"].T + m.params[0]["bias"]).requires_grad_(True)
    F.cross_entropy(F.linear(torch.tanh(bn(h)), m.params[2]["weight"], m.params[2]["bias"]), m.y).backward()
    ex = input_term_example(trace(spec), 2, 2, 3)
    assert ex.total == pytest.approx(h.grad[2, 3].item(), rel=1e-9)


@pytest.mark.parametrize("r,j", [(0, 0), (4, 3)])
def test_layernorm_element_numbers_equal_autograd(r, j):
    layers = [LayerSpec(4, "tanh"), LayerSpec(type="layernorm", weight=[0.5, -1.0, 2.0, 1.5], bias=[0.2] * 4),
              LayerSpec(2, "identity")]
    spec = NetworkSpec(3, layers, loss="mse", init="xavier", seed=3, dtype="float64", batch=5)
    m = materialize(spec)
    (w1, b1), (gamma, beta), (w3, b3) = ([p[k] for k in p] for p in m.params)
    h = torch.tanh(m.x @ w1.T + b1).requires_grad_(True)  # a_1 (5, 4)
    x_hat, mu, var = _staged_norm(h, 1)
    F.mse_loss((gamma * x_hat + beta) @ w3.T + b3, m.y).backward()
    ex = input_term_example(trace(spec), 2, r, j)
    assert ex.numbers["dL_dvar"] == pytest.approx(var.grad[r, 0].item(), rel=1e-9, abs=1e-15)
    assert ex.numbers["dL_dmu"] == pytest.approx(mu.grad[r, 0].item(), rel=1e-9, abs=1e-15)
    assert ex.total == pytest.approx(h.grad[r, j].item(), rel=1e-9, abs=1e-15)
    h2 = h.detach().clone().requires_grad_(True)  # and against nn.LayerNorm's own kernel
    F.mse_loss(F.layer_norm(h2, (4,), gamma, beta, EPS) @ w3.T + b3, m.y).backward()
    assert ex.total == pytest.approx(h2.grad[r, j].item(), rel=1e-9, abs=1e-15)


def test_residual_element_is_the_skip_plus_the_inner_path():
    spec = preset("residual")  # 3 → 4 relu, block[4 relu, 4] relu, block[4 tanh, 4] relu, 4 → 1
    m = materialize(spec)
    p1, blk, blk2, p4 = m.params
    a1 = torch.relu(F.linear(m.x, p1["weight"], p1["bias"]))
    skip, inner = a1.clone().requires_grad_(True), a1.clone().requires_grad_(True)  # the two paths, apart

    def f(p, x, act):
        return F.linear(act(F.linear(x, p["0.weight"], p["0.bias"])), p["1.weight"], p["1.bias"])

    a2 = torch.relu(skip + f(blk, inner, torch.relu))
    a3 = torch.relu(a2 + f(blk2, a2, torch.tanh))
    F.mse_loss(F.linear(a3, p4["weight"], p4["bias"]), m.y).backward()
    for r, j in [(0, 0), (1, 0), (3, 2)]:
        ex = input_term_example(trace(spec), 2, r, j)
        assert ex.numbers["skip"] == pytest.approx(skip.grad[r, j].item(), rel=1e-9, abs=1e-15)
        assert ex.numbers["inner"] == pytest.approx(inner.grad[r, j].item(), rel=1e-9, abs=1e-15)
        assert ex.total == pytest.approx(skip.grad[r, j].item() + inner.grad[r, j].item(), rel=1e-9, abs=1e-15)


def test_dropout_element_is_delta_times_mask_over_keep_probability():
    spec = preset("dropout")  # 3 → 6 relu → dropout p = 0.5 → 1
    t = trace(spec)
    mask = t.all_layers[1].values["mask"]
    m = materialize(spec)
    h = torch.relu(F.linear(m.x, m.params[0]["weight"], m.params[0]["bias"])).requires_grad_(True)
    F.mse_loss(F.linear(h * mask / 0.5, m.params[2]["weight"], m.params[2]["bias"]), m.y).backward()
    kept, dropped = (mask == 1).nonzero()[0].tolist(), (mask == 0).nonzero()[0].tolist()
    for r, j in (kept, dropped):
        ex = input_term_example(t, 2, r, j)
        assert ex.total == pytest.approx(h.grad[r, j].item(), rel=1e-12, abs=1e-15)
    assert input_term_example(t, 2, *dropped).total == 0 and "dropped" in input_term_example(t, 2, *dropped).lines[0][0]
    assert h.grad[kept[0], kept[1]] != 0 and "kept" in input_term_example(t, 2, *kept).lines[0][0]


def test_linear_layers_have_no_element_view_and_bad_indices_are_refused():
    t = trace(preset("batchnorm"))
    assert input_term_example(t, 1, 0, 0) is None
    with pytest.raises(IndexError, match="pick r < 8, j < 6"):
        input_term_example(t, 2, 8, 0)
