"""engine.inspector.trace.trace: the manual chain rule equals autograd, and finite differences agree, on random nets.

The reference here is written independently of the engine: plain torch ops (z = a Wᵀ + b, torch's own
activations and losses) and autograd on the trace's own parameters and data.
"""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.inspector.materialize import materialize
from engine.inspector.presets import preset
from engine.inspector.spec import INITS, LayerSpec, NetworkSpec
from engine.inspector.trace import GRAD_NAMES, MANUAL_TOL, NUMERICAL_TOL, trace

HIDDEN = ["identity", "relu", "leaky_relu", "sigmoid", "tanh"]
LOSS_NAMES = ["mse", "cross_entropy", "bce", "sum"]
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

REF_ACT = {
    "identity": lambda z: z,
    "relu": torch.relu,
    "leaky_relu": lambda z: F.leaky_relu(z, 0.01),
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "softmax": lambda z: torch.softmax(z, dim=1),
}


def ref_loss(name, a, y):
    if name == "mse":
        return F.mse_loss(a, y)
    if name == "cross_entropy":
        return F.cross_entropy(a, y)
    if name == "bce":
        return F.binary_cross_entropy(a, y)
    return a.sum()


def reference(t):
    """Autograd on the trace's W, b, x, y: {'loss', per layer l: {'weight','bias','z','a','input'} grads}."""
    ws = [lt.weight.detach().clone().requires_grad_(True) for lt in t.layers]
    bs = [lt.bias.detach().clone().requires_grad_(True) for lt in t.layers]
    x = t.x.detach().clone().requires_grad_(True)
    a_list, z_list = [x], []
    for w, b, lt in zip(ws, bs, t.layers, strict=True):
        z = a_list[-1] @ w.T + b
        z.retain_grad()
        a = REF_ACT[lt.activation](z)
        if a is not z:
            a.retain_grad()
        z_list.append(z)
        a_list.append(a)
    loss = ref_loss(t.spec.loss, a_list[-1], t.y)
    loss.backward()
    grads = [{"weight": ws[i].grad, "bias": bs[i].grad, "z": z_list[i].grad, "a": a_list[i + 1].grad,
              "input": a_list[i].grad} for i in range(len(ws))]
    forward = [(z.detach(), a.detach()) for z, a in zip(z_list, a_list[1:], strict=True)]
    return loss.detach(), grads, forward


def _scaled_err(got: torch.Tensor, want: torch.Tensor, mask=None) -> float:
    """max |got − want| / max(1, max |want|) over the (optional) mask."""
    diff = (got.to(torch.float64) - want.to(torch.float64)).abs()
    if mask is not None:
        diff = diff[mask]
    if diff.numel() == 0:
        return 0.0
    return diff.max().item() / max(1.0, want.abs().max().item())


@st.composite
def specs(draw, dtype: str = "float64"):
    n_layers = draw(st.integers(1, 4))
    loss = draw(st.sampled_from(LOSS_NAMES))
    widths = [draw(st.integers(1, 6)) for _ in range(n_layers)]
    acts = [draw(st.sampled_from(HIDDEN)) for _ in range(n_layers - 1)]
    if loss == "cross_entropy":
        acts.append("identity")
        widths[-1] = max(widths[-1], 2)
    elif loss == "bce":
        acts.append("sigmoid")
    else:
        acts.append(draw(st.sampled_from(HIDDEN + ["softmax"])))
    n_in, batch = draw(st.integers(1, 6)), draw(st.integers(1, 5))
    layers = [LayerSpec(w, a) for w, a in zip(widths, acts, strict=True)]
    x = None
    if draw(st.booleans()):  # explicit numbers hypothesis can shrink: large logits, exact zeros, kinks
        sizes = [n_in] + widths
        for l, layer in enumerate(layers, start=1):
            scale = 10 ** draw(st.floats(-2, 0.5))  # per layer: tiny to large weights
            layer.weight = [[draw(_entry) * scale for _ in range(sizes[l - 1])] for _ in range(sizes[l])]
            layer.bias = [draw(_entry) * scale for _ in range(sizes[l])]
        scale = 10 ** draw(st.floats(-2, 1))
        x = [[draw(_entry) * scale for _ in range(n_in)] for _ in range(batch)]
    return NetworkSpec(
        input_size=n_in,
        layers=layers,
        loss=loss,
        init=draw(st.sampled_from(INITS)),
        seed=draw(st.integers(0, 2**31 - 1)),
        dtype=dtype,
        batch=batch,
        x=x,
    )


_entry = st.one_of(st.just(0.0), st.floats(-1, 1, allow_nan=False))  # exact zeros make ReLU inputs sit on the kink


def _bce_saturated(t) -> bool:
    """True when a bce output rounds to exactly 0 or 1 (or σ' < 1e-12, torch's BCE clamp): see test below."""
    if t.spec.loss != "bce":
        return False
    a = t.layers[-1].a
    return bool(((a * (1 - a)) < 1e-11).any())


@SETTINGS
@given(spec=specs())
def test_manual_equals_autograd_float64(spec):
    t = trace(spec)
    loss, grads, fwd = reference(t)
    assert abs(t.loss - loss.item()) <= 1e-12 * max(1.0, abs(loss.item()))
    for lt, g, (z, a) in zip(t.layers, grads, fwd, strict=True):
        torch.testing.assert_close(lt.z, z, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(lt.a, a, rtol=1e-12, atol=1e-12)
        if _bce_saturated(t):
            continue
        for name in GRAD_NAMES:
            manual = lt.grads[name].manual
            assert manual.shape == g[name].shape, (lt.index, name)
            assert manual.dtype == torch.float64
            err = _scaled_err(manual, g[name])
            assert err <= 1e-10, f"layer {lt.index} {name}: manual vs autograd {err:.3g}"
            # the trace's own autograd column is autograd too
            assert _scaled_err(lt.grads[name].autograd, g[name]) <= 1e-12


@SETTINGS
@given(spec=specs())
def test_numerical_agrees_where_smooth_and_trace_agrees(spec):
    t = trace(spec)
    assert t.numerical_note is None
    loss, grads, _ = reference(t)
    if _bce_saturated(t):
        return
    scale_loss = max(1.0, abs(loss.item()))
    for lt, g in zip(t.layers, grads, strict=True):
        for name in GRAD_NAMES:
            c = lt.grads[name]
            assert c.numerical is not None and c.kink is not None
            assert c.numerical.shape == g[name].shape and c.kink.shape == g[name].shape
            assert c.kink.dtype == torch.bool
            if not any(other.activation in ("relu", "leaky_relu") for other in t.layers):
                # no ReLU, no kink; the one documented exception: ∂L/∂a of a bce output within 1e-4 of
                # 0 or 1, where the difference quotient is unreliable and is flagged like a kink
                allowed = torch.zeros_like(c.kink)
                if t.spec.loss == "bce" and lt.index == len(t.layers) and name == "a":
                    allowed = torch.minimum(lt.a, 1 - lt.a) < 1e-4
                assert not (c.kink & ~allowed).any(), "a net without ReLUs has no kinks"
            ok = ~c.kink
            diff = (c.numerical - g[name]).abs()[ok]
            if diff.numel():
                bound = 1e-6 * max(1.0, g[name].abs().max().item(), scale_loss)
                assert diff.max().item() <= bound, f"layer {lt.index} {name}: numerical off by {diff.max():.3g}"
            assert c.agree, f"layer {lt.index} {name}"
    assert t.agree


@SETTINGS
@given(spec=specs(dtype="float32"))
def test_manual_equals_autograd_float32_within_documented_tolerance(spec):
    assert MANUAL_TOL["float32"] == 1e-5 and NUMERICAL_TOL["float32"] == 1e-4
    t = trace(spec, numerical=False)
    _, grads, _ = reference(t)
    if _bce_saturated(t):
        return
    ill = _bce_ill_conditioned_float32(t)
    for lt, g in zip(t.layers, grads, strict=True):
        for name in GRAD_NAMES:
            manual = lt.grads[name].manual
            assert manual.dtype == torch.float32
            if ill and lt.index == len(t.layers) and name == "a":
                continue  # see test_float32_bce_output_gradient_near_one_agrees
            err = _scaled_err(manual, g[name])
            assert err <= MANUAL_TOL["float32"], f"layer {lt.index} {name}: {err:.3g}"
            assert lt.grads[name].agree
    if not ill:
        assert t.agree


@SETTINGS
@given(spec=specs(dtype="float32"))
def test_numerical_agrees_for_float32_networks(spec):
    """A float32 network's numbers are exact in float64, where the finite differences run: they must agree
    with float32 autograd to NUMERICAL_TOL["float32"] wherever they are not left out."""
    t = trace(spec)
    _, grads, _ = reference(t)
    if _bce_saturated(t) or _bce_ill_conditioned_float32(t):
        return
    for lt, g in zip(t.layers, grads, strict=True):
        for name in GRAD_NAMES:
            c = lt.grads[name]
            assert c.numerical.dtype == torch.float64
            ok = ~c.kink
            err = _scaled_err(c.numerical, g[name], ok)
            assert err <= NUMERICAL_TOL["float32"], f"layer {lt.index} {name}: numerical off by {err:.3g}"


def _bce_ill_conditioned_float32(t) -> bool:
    """∂L/∂a = (a − y)/(a(1 − a)B·k) of a float32 bce output with 1 − a (or a) < 1e-2: one ulp of a
    (6e-8) is ≥ 6e-6 of 1 − a, so two correct float32 evaluations differ by more than MANUAL_TOL."""
    if t.spec.loss != "bce":
        return False
    a = t.layers[-1].a
    return bool((torch.minimum(a, 1 - a) < 1e-2).any())


def test_float32_bce_output_gradient_near_one_agrees():
    """Found by hypothesis. z = 7.01 at an output with target 0; every gradient is right to float32 rounding,
    but the trace says agree = False. The tolerance for this tensor has to account for its conditioning."""
    spec = NetworkSpec(5, [LayerSpec(4, "identity"), LayerSpec(1, "identity"), LayerSpec(2, "identity"),
                           LayerSpec(5, "sigmoid")], loss="bce", init="normal", seed=202729, dtype="float32",
                       batch=4)
    t = trace(spec, numerical=False)
    _, grads, _ = reference(t)
    for lt, g in zip(t.layers[:-1], grads[:-1], strict=True):  # everything upstream agrees to 1e-5
        for name in GRAD_NAMES:
            assert _scaled_err(lt.grads[name].manual, g[name]) <= MANUAL_TOL["float32"]
    assert t.agree


def test_documented_tolerances():
    assert MANUAL_TOL == {"float64": 1e-10, "float32": 1e-5}
    assert NUMERICAL_TOL["float64"] == 1e-6


@pytest.mark.parametrize("logit", [8.0, 12.0, 18.0])
def test_bce_confident_wrong_prediction_agrees(logit):
    """One sigmoid unit, W = 1, b = 0, x = logit, target 0: L = −log(1 − σ(x)) = softplus(x).

    By hand: ∂L/∂z = σ(x), ∂L/∂W = σ(x)·x, ∂L/∂a = 1/(1 − σ(x)). Finite differences on log(1 − a) of
    the probability were off by up to 1e-2 here (NaN for ∂L/∂a at x = 18, where a + h > 1), reporting
    agree = False for right gradients; they must agree, to NUMERICAL_TOL, as for any other net.
    """
    spec = NetworkSpec(1, [LayerSpec(1, "sigmoid", weight=[[1.0]], bias=[0.0])], loss="bce",
                       x=[[logit]], y=[[0.0]])
    t = trace(spec)
    s = 1.0 / (1.0 + math.exp(-logit))
    g = t.layers[0].grads
    # (bce on a probability, like nn.BCELoss, loses ~1e-16/(1 − a) relative in log(1 − a))
    assert t.loss == pytest.approx(math.log1p(math.exp(logit)), rel=1e-9)
    assert g["z"].manual.item() == pytest.approx(s, rel=1e-14)
    assert g["weight"].manual.item() == pytest.approx(s * logit, rel=1e-14)
    assert g["a"].manual.item() == pytest.approx(1 / (1 - s), rel=1e-6)
    assert g["z"].autograd.item() == pytest.approx(s, rel=1e-14)
    for name in ("weight", "bias", "z"):
        assert g[name].numerical.item() == pytest.approx(g[name].manual.item(), rel=1e-6)
    assert t.agree


# ---- trace bookkeeping ----

def test_trace_records_forward_values_and_shapes():
    spec = NetworkSpec(3, [LayerSpec(4, "relu"), LayerSpec(2, "softmax")], loss="mse", seed=2, batch=5)
    t = trace(spec)
    assert [lt.index for lt in t.layers] == [1, 2]
    assert [lt.activation for lt in t.layers] == ["relu", "softmax"]
    assert t.layers[0].input is t.x or torch.equal(t.layers[0].input, t.x)
    m = materialize(spec)  # layer 2's input, computed here rather than read back from layer 1
    torch.testing.assert_close(t.layers[1].input, torch.relu(m.x @ m.weights[0].T + m.biases[0]), rtol=1e-14,
                               atol=1e-15)
    torch.testing.assert_close(t.layers[0].a, torch.relu(t.layers[0].z))
    torch.testing.assert_close(t.layers[1].a.sum(dim=1), torch.ones(5, dtype=torch.float64))
    shapes = {"weight": (4, 3), "bias": (4,), "z": (5, 4), "a": (5, 4), "input": (5, 3)}
    for name, shape in shapes.items():
        assert tuple(t.layers[0].grads[name].manual.shape) == shape
    # layer 2's input gradient, by an independent autograd pass (not read back from layer 1's ∂L/∂a)
    a1 = torch.relu(m.x @ m.weights[0].T + m.biases[0]).requires_grad_(True)
    torch.nn.functional.mse_loss(torch.softmax(a1 @ m.weights[1].T + m.biases[1], dim=1), m.y).backward()
    torch.testing.assert_close(t.layers[1].grads["input"].manual, a1.grad, rtol=1e-10, atol=1e-14)
    assert t.loss == pytest.approx(t.loss_autograd, rel=1e-14)


def test_disagreement_is_reported():
    """agree is computed, not constant: corrupt one manual gradient and re-compare."""
    from engine.inspector.trace import compare

    g = torch.tensor([[1.0, 2.0]], dtype=torch.float64)
    ok = compare(g.clone(), g, None, None, "float64", 1.0)
    assert ok.agree and ok.max_abs_error == 0.0
    bad = compare(g + torch.tensor([[0.0, 1e-6]], dtype=torch.float64), g, None, None, "float64", 1.0)
    assert not bad.agree and bad.max_abs_error == pytest.approx(1e-6)
    assert bad.max_rel_error == pytest.approx(0.5e-6)
    num_bad = compare(g.clone(), g, g + 1e-3, torch.zeros_like(g, dtype=torch.bool), "float64", 1.0)
    assert not num_bad.agree
    num_kink = compare(g.clone(), g, g + 1e-3, torch.ones_like(g, dtype=torch.bool), "float64", 1.0)
    assert num_kink.agree and num_kink.numerical_max_abs_error == 0.0


def test_bce_saturated_sigmoid_manual_vs_autograd():
    """Known edge: a sigmoid output that rounds to 1 with target 0.

    The manual pass uses the fused δ = (a − y)/(B·k) = 1 (the true derivative); torch's BCE backward
    divides by max(a(1 − a), 1e-12) and multiplies by σ' = 0, so autograd (and finite differences,
    the clamped loss being flat) give 0. The trace must not crash and must report the mismatch.
    """
    spec = NetworkSpec(1, [LayerSpec(1, "sigmoid", weight=[[1.0]], bias=[0.0])], loss="bce",
                       x=[[50.0]], y=[[0.0]])
    t = trace(spec)
    assert t.layers[0].a.item() == 1.0
    assert t.layers[0].grads["z"].manual.item() == pytest.approx(1.0)
    assert t.layers[0].grads["z"].autograd.item() == 0.0
    assert t.loss == pytest.approx(100.0)  # log(1 − a) clamped at −100, as nn.BCELoss


def test_a_five_percent_numerical_error_never_passes_at_a_large_loss():
    """line with x₀ = 1e9: L ≈ 1e18, so rounding L over h = 1e-6 costs ~1e8 in the quotient — the numerical
    ∂L/∂b is 4 % off. The bound follows the gradient's scale and that rounding, capped at 1 % of max|g|,
    so the check cannot pass, and it says why."""
    d = preset("line").to_dict()
    d["x"] = [[1e9]]
    t = trace(NetworkSpec.from_dict(d))
    g = t.layers[0].grads["bias"]
    assert abs(g.numerical.item() / g.autograd.item() - 1) > 0.01  # finite differences really are that far off
    assert not g.agree and not t.agree
    assert g.numerical_tolerance <= 0.01 * abs(g.autograd.item()) + 1e-6 * abs(g.autograd.item())
    assert "cannot confirm" in g.left_out_note


def test_the_numerical_tolerance_is_at_most_one_percent_of_the_gradient():
    """sum loss, L = 2w + b: ∂L/∂W = 2 whatever b is, but b = 1e6 makes |L| = 1e6. The bound was 1e-6·|L| = 1
    (a 50 % error passed); it is now 1e-6·max(1, 2) plus the rounding of L over h, at most 1 % of 2."""
    t = trace(NetworkSpec(1, [LayerSpec(1, "identity", weight=[[1.0]], bias=[1e6])], loss="sum", x=[[2.0]]))
    g = t.layers[0].grads["weight"]
    assert g.autograd.item() == 2.0 and abs(t.loss) == 1e6 + 2
    assert g.numerical_tolerance <= 2e-6 + 0.01 * 2
    assert g.agree  # the finite difference itself is good to ~1e-4 here
