"""The stepper's frames: the order of the computation, every value the trace's own tensor, and the numbers
against hand-worked values (the single weight) and against torch's own modules and autograd (random nets)."""
import re

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.inspector.materialize import materialize
from engine.inspector.presets import PRESETS, preset
from engine.inspector.spec import LayerSpec, NetworkSpec
from engine.inspector.trace import trace
from engine.teach.frames import Selection, frames

TORCH_ACT = {"identity": lambda z: z, "relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
             "leaky_relu": lambda z: F.leaky_relu(z, 0.01), "softmax": lambda z: torch.softmax(z, dim=1)}
TORCH_LOSS = {"mse": F.mse_loss, "sum": lambda a, y: a.sum(), "cross_entropy": F.cross_entropy,
              "bce": F.binary_cross_entropy}


def _order(spec: NetworkSpec) -> list[tuple]:
    """The order the issue asks for, written from the spec alone: x; z_l, a_l per layer; the loss; ∂L/∂a_L;
    then per layer from the top δ_l, ∂L/∂W_l, ∂L/∂b_l, ∂L/∂a_{l-1}."""
    L = len(spec.layers)
    out = [("x", None, None)]
    for l in range(1, L + 1):
        out += [("z", l, None), ("a", l, None)]
    out += [("loss", None, None), ("grad_a", L, None)]
    for l in range(L, 0, -1):
        out += [("delta", l, None), ("grad_param", l, "weight"), ("grad_param", l, "bias"), ("grad_input", l, None)]
    return out


def test_the_single_weight_by_hand():
    """W = 1, b = 1, x = 2, target 10: z = 3, L = (3 − 10)² = 49, ∂L/∂a = 2(3 − 10) = −14 = δ,
    ∂L/∂W = δ·x = −28, ∂L/∂b = −14, ∂L/∂x = δ·W = −14."""
    fs = frames(trace(preset("line")))
    assert [(f.quantity, f.layer, f.param) for f in fs] == _order(preset("line"))
    got = [f.value.item() for f in fs]
    assert got == [2.0, 3.0, 3.0, 49.0, -14.0, -14.0, -28.0, -14.0, -14.0]
    by = {(f.quantity, f.param): f for f in fs}
    assert by[("z", None)].numbers.endswith(
        r"\begin{bmatrix} 2 \end{bmatrix}\, \begin{bmatrix} 1 \end{bmatrix} + \begin{bmatrix} 1 \end{bmatrix} "
        r"\\ &= \begin{bmatrix} 3 \end{bmatrix} \end{aligned}")
    assert by[("loss", None)].numbers.endswith("= 49")
    assert by[("grad_param", "weight")].numbers.endswith(
        r"\begin{bmatrix} -14 \end{bmatrix}\, \begin{bmatrix} 2 \end{bmatrix} \\ &= "
        r"\begin{bmatrix} -28 \end{bmatrix} \end{aligned}")
    assert r"(1\times 1)" in by[("grad_param", "weight")].equation


def _reference(spec: NetworkSpec):
    """Forward by torch.nn.functional and gradients by autograd on the same numbers (not the trace's code)."""
    m = materialize(spec)
    ws = [p["weight"].clone().requires_grad_(True) for p in m.params]
    bs = [p["bias"].clone().requires_grad_(True) for p in m.params]
    x = m.x.clone().requires_grad_(True)
    acts, zs = [x], []
    for w, b, layer in zip(ws, bs, spec.layers, strict=True):
        zs.append(F.linear(acts[-1], w, b))
        acts.append(TORCH_ACT[layer.activation](zs[-1]))
        zs[-1].retain_grad()
        acts[-1].retain_grad()
    loss = TORCH_LOSS[spec.loss](acts[-1], m.y)
    loss.backward()
    return x, ws, bs, zs, acts, loss


def _expected(spec: NetworkSpec) -> list[torch.Tensor]:
    x, ws, bs, zs, acts, loss = _reference(spec)
    L = len(ws)
    out = [x.detach()]
    for z, a in zip(zs, acts[1:], strict=True):
        out += [z.detach(), a.detach()]
    out += [loss.detach(), acts[L].grad]
    for l in range(L, 0, -1):
        out += [zs[l - 1].grad, ws[l - 1].grad, bs[l - 1].grad, acts[l - 1].grad]
    return out


@st.composite
def specs(draw):
    n_layers = draw(st.integers(1, 3))
    loss = draw(st.sampled_from(["mse", "sum", "cross_entropy", "bce"]))
    widths = [draw(st.integers(1, 7)) for _ in range(n_layers)]
    acts = [draw(st.sampled_from(["identity", "relu", "tanh", "sigmoid", "leaky_relu"])) for _ in widths]
    if loss == "cross_entropy":
        acts[-1], widths[-1] = "identity", max(widths[-1], 2)
    elif loss == "bce":
        acts[-1] = "sigmoid"
    return NetworkSpec(draw(st.integers(1, 7)), [LayerSpec(w, a) for w, a in zip(widths, acts, strict=True)],
                       loss=loss, seed=draw(st.integers(0, 10_000)), batch=draw(st.integers(1, 6)), init="xavier")


def _trace_tensor(t, f):
    """The trace's tensor that frame f shows (None for the loss, a float in the trace)."""
    if f.quantity in ("x", "loss"):
        return t.x if f.quantity == "x" else None
    lt = t.all_layers[f.layer - 1]
    name = {"z": None, "a": None, "delta": "z", "grad_a": "a", "grad_param": f.param, "grad_input": "input"}
    return getattr(lt, f.quantity) if f.quantity in ("z", "a") else lt.grads[name[f.quantity]].manual


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=specs(), row=st.integers(0, 9), unit=st.integers(0, 9), col=st.integers(0, 9))
def test_every_frame_is_the_trace_and_agrees_with_torch(spec, row, unit, col):
    t = trace(spec, numerical=False)
    fs = frames(t, Selection(row, unit, col))
    assert [(f.quantity, f.layer, f.param) for f in fs] == _order(spec)
    for f in fs:  # the frame holds the trace's tensor itself, not a copy computed another way
        want = _trace_tensor(t, f)
        assert f.value.item() == t.loss if want is None else f.value is want
    for f, ref in zip(fs, _expected(spec), strict=True):
        assert torch.allclose(f.value, ref.to(f.value.dtype), rtol=1e-9, atol=1e-9), (f.title, f.value, ref)


def test_what_a_frame_uses_is_known_by_then():
    """Every quantity a frame is computed from is a parameter, the target, or what an earlier frame computed."""
    for name in PRESETS:
        seen = {"y"}
        for f in frames(trace(preset(name))):
            for u in f.uses:
                assert u in seen or re.fullmatch(r"(W|b|\\gamma|\\beta)_\{\d+\}", u), (name, f.title, u)
            seen.add(f.symbol.split(" = ")[0])
            seen.add(f.symbol)


def _shown_sum(tex: str) -> tuple[float, float]:
    """(Σ of the products written out as 'p·q + …' (plus a trailing bias), the total on the last line) of
    '\\begin{aligned} lhs &= formula \\\\ &= terms \\\\ &= total \\end{aligned}'."""
    body = tex.removeprefix(r"\begin{aligned} ").removesuffix(r" \end{aligned}")
    *_, shown, total = body.split(r" \\ &= ")
    value = 0.0
    for term in shown.replace(r" \\ &\quad + ", " + ").split(" + "):
        nums = [float(n) for n in re.findall(r"-?\d+\.?\d*(?:e[-+]?\d+)?", term)]
        value += nums[0] * nums[1] if r"\cdot" in term else nums[0]
    return value, float(total.strip("()"))


def test_a_large_layer_shows_the_selected_element_term_by_term():
    spec = NetworkSpec(6, [LayerSpec(5, "tanh"), LayerSpec(2, "identity")], seed=3, batch=6)
    t = trace(spec)
    fs = frames(t, Selection(row=4, unit=3, col=5))
    z1 = next(f for f in fs if f.quantity == "z" and f.layer == 1)
    assert z1.numbers.startswith(r"\begin{aligned} z_{1}[4,3] &= \sum_j a_{0}[4,j]\, W_{1}[3,j] + b_{1}[3] \\ &= ")
    shown, total = _shown_sum(z1.numbers)
    assert total == float(f"{t.layers[0].z[4, 3].item():.4g}")
    assert shown == pytest.approx(total, abs=1e-3)  # six products of 4-digit numbers
    gw = next(f for f in fs if f.quantity == "grad_param" and f.layer == 1 and f.param == "weight")
    assert gw.numbers.startswith(
        r"\begin{aligned} \frac{\partial L}{\partial W_{1}}[3,5] &= \sum_r \delta_{1}[r,3]\, a_{0}[r,5]")
    shown, total = _shown_sum(gw.numbers)
    assert total == float(f"{t.layers[0].grads['weight'].autograd[3, 5].item():.4g}")
    assert shown == pytest.approx(total, abs=1e-3)


def test_a_large_layers_delta_is_its_upstream_gradient_times_the_slope_at_the_selected_element():
    spec = NetworkSpec(6, [LayerSpec(5, "tanh"), LayerSpec(2, "identity")], seed=3, batch=6)
    t = trace(spec)
    d1 = next(f for f in frames(t, Selection(row=4, unit=3)) if f.quantity == "delta" and f.layer == 1)
    lt = t.layers[0]
    slope = 1 - torch.tanh(lt.z[4, 3]) ** 2  # tanh'(z), by hand
    body = d1.numbers.removeprefix(r"\begin{aligned} ").removesuffix(r" \end{aligned}")
    _, product, total = body.split(r" \\ &= ")
    upstream, factor = (float(v.strip("()")) for v in product.split(r" \cdot "))
    assert d1.numbers.startswith(r"\begin{aligned} \delta_{1}[4,3] &= \frac{\partial L}{\partial a_{1}}[4,3]")
    assert upstream == float(f"{lt.grads['a'].autograd[4, 3].item():.4g}")
    assert factor == float(f"{slope.item():.4g}")
    assert float(total.strip("()")) == float(f"{lt.grads['z'].autograd[4, 3].item():.4g}")


def test_a_selection_outside_a_small_layer_is_moved_inside():
    spec = NetworkSpec(6, [LayerSpec(6, "relu"), LayerSpec(1, "identity")], seed=1, batch=5)
    fs = frames(trace(spec), Selection(row=99, unit=99, col=99))
    z2 = next(f for f in fs if f.quantity == "z" and f.layer == 2)
    assert z2.numbers.startswith(r"\begin{aligned} z_{2}[4,0] &= ")
