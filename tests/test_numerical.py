"""engine.core.numerical: central finite differences (float64, batched), the kink mask, and when they are skipped."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from engine.core import numerical
from engine.core.numerical import MAX_NUMERICAL_PARAMETERS, H, numerical_gradients, numerical_skip_reason
from engine.inspector.materialize import materialize
from engine.inspector.spec import LayerSpec, NetworkSpec
from engine.inspector.trace import trace


def _numerical_for(spec: NetworkSpec):
    """numerical_gradients on the spec's materialised float64 tensors, plus an autograd reference."""
    m = materialize(spec)
    acts = [layer.activation for layer in spec.layers]
    zs, as_ = [], [m.x]
    for w, b, act in zip(m.weights, m.biases, acts, strict=True):
        zs.append(as_[-1] @ w.T + b)
        as_.append({"identity": lambda t: t, "relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
                    "softmax": lambda t: torch.softmax(t, dim=1),
                    "leaky_relu": lambda t: F.leaky_relu(t, 0.01)}[act](zs[-1]))
    return m, numerical_gradients(m.layers, m.params, spec.loss, m.x, m.y, zs, as_)


def _autograd(m, acts, loss):
    params = [p.clone().requires_grad_(True) for p in m.weights + m.biases]
    n = len(m.weights)
    x = m.x.clone().requires_grad_(True)
    a = x
    for w, b, act in zip(params[:n], params[n:], acts, strict=True):
        z = a @ w.T + b
        a = {"identity": lambda t: t, "relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
             "softmax": lambda t: torch.softmax(t, dim=1), "leaky_relu": lambda t: F.leaky_relu(t, 0.01)}[act](z)
    value = {"mse": lambda: F.mse_loss(a, m.y), "cross_entropy": lambda: F.cross_entropy(a, m.y),
             "bce": lambda: F.binary_cross_entropy(a, m.y), "sum": lambda: a.sum()}[loss]()
    value.backward()
    return [p.grad for p in params[:n]], [p.grad for p in params[n:]], x.grad


def _autograd_a1(m, acts, loss):
    """∂L/∂a_1 by autograd, the network rebuilt from a_1 on."""
    phi = {"identity": lambda t: t, "relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
           "softmax": lambda t: torch.softmax(t, dim=1), "leaky_relu": lambda t: F.leaky_relu(t, 0.01)}
    a1 = phi[acts[0]](m.x @ m.weights[0].T + m.biases[0]).requires_grad_(True)
    a = a1
    for w, b, act in zip(m.weights[1:], m.biases[1:], acts[1:], strict=True):
        a = phi[act](a @ w.T + b)
    {"mse": lambda: F.mse_loss(a, m.y), "cross_entropy": lambda: F.cross_entropy(a, m.y),
     "bce": lambda: F.binary_cross_entropy(a, m.y), "sum": lambda: a.sum()}[loss]().backward()
    return a1.grad


@pytest.mark.parametrize(("layers", "loss"), [
    ([LayerSpec(3, "tanh"), LayerSpec(2, "identity")], "mse"),
    ([LayerSpec(4, "sigmoid"), LayerSpec(3, "identity")], "cross_entropy"),
    ([LayerSpec(2, "leaky_relu"), LayerSpec(2, "sigmoid")], "bce"),
    ([LayerSpec(3, "tanh"), LayerSpec(3, "softmax")], "sum"),
    ([LayerSpec(3, "identity"), LayerSpec(2, "softmax")], "mse"),
])
def test_numerical_gradients_match_autograd(layers, loss):
    spec = NetworkSpec(3, layers, loss=loss, seed=4, batch=3, init="xavier")
    m, num = _numerical_for(spec)
    gw, gb, gx = _autograd(m, [layer.activation for layer in layers], loss)
    for l, layer in enumerate(num):
        g, kink = layer["weight"][:2]
        assert g.shape == gw[l].shape and kink.shape == gw[l].shape
        torch.testing.assert_close(g, gw[l], rtol=0, atol=1e-8)
        torch.testing.assert_close(layer["bias"][0], gb[l], rtol=0, atol=1e-8)
    torch.testing.assert_close(num[0]["input"][0], gx, rtol=0, atol=1e-8)
    # layer 2's input gradient against autograd's ∂L/∂a_1 (not against layer 1's numerical "a", the same tensor)
    torch.testing.assert_close(num[1]["input"][0], _autograd_a1(m, [layer.activation for layer in layers], loss),
                               rtol=0, atol=1e-8)


def test_central_difference_on_a_quadratic_is_exact_to_rounding():
    """L = mean((w x − y)²) is quadratic in w: the central difference has no truncation error."""
    spec = NetworkSpec(1, [LayerSpec(1, "identity", weight=[[3.0]], bias=[0.5])], loss="mse",
                       x=[[2.0], [-1.0]], y=[[1.0], [2.0]])
    _, num = _numerical_for(spec)
    # ŷ = [6.5, −2.5]; ∂L/∂w = mean(2(ŷ − y) x) = (2·5.5·2 + 2·(−4.5)·(−1)) / 2 = 15.5; ∂L/∂b = (11 − 9)/2 = 1
    assert num[0]["weight"][0].item() == pytest.approx(15.5, abs=1e-8)
    assert num[0]["bias"][0].item() == pytest.approx(1.0, abs=1e-8)
    assert H == 1e-6


def test_kink_mask_marks_only_perturbations_that_cross_zero():
    # z1 = [0, 2] for x = [1, 1]: unit 1 sits exactly on the ReLU kink
    spec = NetworkSpec(2, [LayerSpec(2, "relu", weight=[[1.0, -1.0], [1.0, 1.0]], bias=[0.0, 0.0]),
                           LayerSpec(1, "identity", weight=[[1.0, 1.0]], bias=[0.0])],
                       loss="mse", x=[[1.0, 1.0]], y=[[0.0]])
    _, num = _numerical_for(spec)
    assert num[0]["z"][1].tolist() == [[True, False]]
    assert num[0]["weight"][1].tolist() == [[True, True], [False, False]]
    assert num[0]["bias"][1].tolist() == [True, False]
    assert not num[1]["weight"][1].any() and not num[0]["a"][1].any()
    # away from the kink the values are right: ∂L/∂z1[1] = 2·2 = 4
    assert num[0]["z"][0][0, 1].item() == pytest.approx(4.0, abs=1e-7)


def test_skip_reason():
    assert MAX_NUMERICAL_PARAMETERS == 120_000
    assert numerical_skip_reason([3, 4, 2], 2) is None
    reason = numerical_skip_reason([784, 160, 10], 2)  # 127 210 parameters
    assert reason and "127,210" in reason and "120,000" in reason
    assert numerical_skip_reason([784, 150, 10], 2) is None  # 119 260 parameters
    assert numerical_skip_reason([784, 128, 64, 10], 8) is None  # the MNIST tutorials' network
    assert "batch ≤ 9" in numerical_skip_reason([784, 128, 64, 10], 16)
    big_batch = numerical_skip_reason([100, 100, 10], 4096)
    assert big_batch and "batch" in big_batch


def test_numerical_skipped_for_a_large_net():
    spec = NetworkSpec(784, [LayerSpec(160, "relu"), LayerSpec(10, "identity")], loss="cross_entropy", batch=2)
    assert spec.n_parameters > 120_000
    t = trace(spec)
    assert t.numerical_note and "120,000" in t.numerical_note and "skipped" in t.numerical_note
    for lt in t.layers:
        for g in lt.grads.values():
            assert g.numerical is None and g.kink is None and g.numerical_max_abs_error is None
    assert t.agree  # manual vs autograd is still checked


def test_numerical_runs_for_a_moderate_net():
    spec = NetworkSpec(784, [LayerSpec(25, "tanh"), LayerSpec(10, "identity")], loss="cross_entropy", batch=2)
    assert spec.n_parameters <= 120_000
    t = trace(spec)
    assert t.numerical_note is None
    w1, b1, w2, b2 = (p.clone().requires_grad_(True) for p in
                      (t.layers[0].weight, t.layers[0].bias, t.layers[1].weight, t.layers[1].bias))
    F.cross_entropy(torch.tanh(t.x @ w1.T + b1) @ w2.T + b2, t.y).backward()
    for lt, w in zip(t.layers, (w1, w2), strict=True):
        assert lt.grads["weight"].numerical.shape == lt.weight.shape
        torch.testing.assert_close(lt.grads["weight"].numerical, w.grad, rtol=0, atol=1e-7)
    assert t.agree


def test_numerical_can_be_turned_off():
    spec = NetworkSpec(2, [LayerSpec(2, "relu"), LayerSpec(1, "identity")], seed=0, batch=1)
    t = trace(spec, numerical=False)
    assert t.numerical_note and all(g.numerical is None for lt in t.layers for g in lt.grads.values())


def test_numerical_chunks_respect_the_element_limit(monkeypatch):
    """Every block of perturbed states handed to the rest of the network stays within CHUNK_ELEMENTS,
    including the ∂L/∂x perturbations of a wide input (a 50-wide input, narrow layer, CHUNK lowered to 2 000)."""
    monkeypatch.setattr(numerical, "CHUNK_ELEMENTS", 2_000)
    sizes = []
    from_a, from_z = numerical._Tail.loss_from_a, numerical._Tail.loss_from_z

    def spy_a(self, l, a):
        sizes.append(a.numel())
        return from_a(self, l, a)

    def spy_z(self, l, z):
        sizes.append(z.numel())
        return from_z(self, l, z)

    monkeypatch.setattr(numerical._Tail, "loss_from_a", spy_a)
    monkeypatch.setattr(numerical._Tail, "loss_from_z", spy_z)
    spec = NetworkSpec(50, [LayerSpec(1, "tanh")], loss="mse", batch=4)
    t = trace(spec)
    assert t.numerical_note is None and t.agree
    assert sizes and max(sizes) <= 2_000, f"a block of {max(sizes)} elements"



