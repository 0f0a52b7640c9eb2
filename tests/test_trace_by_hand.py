"""engine.inspector.trace.trace on hand-written cases: a two-layer tanh net's chain rule written out in the test, and
the ReLU kink (flagged, and left out of the numerical comparison). Random networks: tests/test_trace.py."""
from __future__ import annotations

import pytest
import torch

from engine.inspector.spec import LayerSpec, NetworkSpec
from engine.inspector.trace import GRAD_NAMES, trace

# ---- an independent chain rule: a 2-layer tanh net written out in the test ----

def test_two_layer_tanh_chain_rule_by_hand_and_by_autograd():
    spec = NetworkSpec(3, [LayerSpec(4, "tanh"), LayerSpec(2, "identity")], loss="mse", seed=5, batch=3)
    t = trace(spec)
    w1, b1 = t.layers[0].weight.clone(), t.layers[0].bias.clone()
    w2, b2 = t.layers[1].weight.clone(), t.layers[1].bias.clone()
    x, y = t.x.clone(), t.y.clone()

    # plain torch + autograd
    params = [p.clone().requires_grad_(True) for p in (w1, b1, w2, b2)]
    h = torch.tanh(x @ params[0].T + params[1])
    out = h @ params[2].T + params[3]
    loss = ((out - y) ** 2).mean()
    loss.backward()
    assert t.loss == pytest.approx(loss.item(), rel=1e-14)
    for (lt, name), p in zip([(0, "weight"), (0, "bias"), (1, "weight"), (1, "bias")], params, strict=True):
        torch.testing.assert_close(t.layers[lt].grads[name].manual, p.grad, rtol=1e-12, atol=1e-14)

    # the chain rule written out with explicit formulas (no autograd)
    z1 = x @ w1.T + b1
    a1 = torch.tanh(z1)
    z2 = a1 @ w2.T + b2
    d2 = 2 * (z2 - y) / z2.numel()  # ∂L/∂z2 for mean-squared error
    d1 = (d2 @ w2) * (1 - torch.tanh(z1) ** 2)  # ∂L/∂z1
    torch.testing.assert_close(t.layers[1].grads["weight"].manual, d2.T @ a1, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(t.layers[0].grads["weight"].manual, d1.T @ x, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(t.layers[0].grads["z"].manual, d1, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(t.layers[0].grads["input"].manual, d1 @ w1, rtol=1e-12, atol=1e-14)
    assert t.agree


# ---- ReLU kink ----

def _kink_spec() -> NetworkSpec:
    # z1 = x W1ᵀ + b1 = [1·1 − 1·1 + 0, 1·1 + 1·1 + 0] = [0, 2]: unit 1 sits exactly on the kink
    return NetworkSpec(2, [LayerSpec(2, "relu", weight=[[1.0, -1.0], [1.0, 1.0]], bias=[0.0, 0.0]),
                           LayerSpec(1, "identity", weight=[[1.0, 1.0]], bias=[0.0])],
                       loss="mse", x=[[1.0, 1.0]], y=[[0.0]])


def test_relu_kink_is_flagged_and_excluded():
    t = trace(_kink_spec())
    l1, l2 = t.layers
    assert l1.z.tolist() == [[0.0, 2.0]]
    # ŷ = relu(0) + relu(2) = 2; ∂L/∂ŷ = 2(2 − 0) = 4; δ1 = 4 · [relu'(0)=0, 1] = [0, 4]
    assert t.loss == pytest.approx(4.0)
    assert l1.grads["z"].manual.tolist() == [[0.0, 4.0]]
    assert l1.grads["weight"].manual.tolist() == [[0.0, 0.0], [4.0, 4.0]]
    # kink mask: every number that moves z1[0, 0] across 0
    assert l1.grads["z"].kink.tolist() == [[True, False]]
    assert l1.grads["weight"].kink.tolist() == [[True, True], [False, False]]
    assert l1.grads["bias"].kink.tolist() == [True, False]
    assert l1.grads["input"].kink.tolist() == [[True, True]]  # both x entries feed z1[0, 0]
    assert not l1.grads["a"].kink.any()
    for name in GRAD_NAMES:
        assert not l2.grads[name].kink.any()
    # at the kink the central difference is a one-sided average (ReLU slope ½), not a derivative
    assert l1.grads["z"].numerical[0, 0].item() == pytest.approx(2.0, abs=1e-5)
    assert l1.grads["z"].numerical[0, 1].item() == pytest.approx(4.0, abs=1e-6)
    assert t.agree  # kink elements are excluded from the numerical comparison
    for name in GRAD_NAMES:
        assert l1.grads[name].agree and l1.grads[name].max_abs_error == 0.0


def test_leaky_relu_kink_is_flagged():
    spec = _kink_spec()
    spec.layers[0].activation = "leaky_relu"
    t = trace(spec)
    assert t.layers[0].grads["z"].kink.tolist() == [[True, False]]
    # leaky ReLU at 0 takes the slope 0.01, like torch: δ1[0] = 4 · 0.01
    assert t.layers[0].grads["z"].manual[0, 0].item() == pytest.approx(0.04, abs=1e-15)
    assert t.agree


def test_kink_masks_are_false_for_smooth_nets():
    spec = NetworkSpec(3, [LayerSpec(3, "tanh"), LayerSpec(2, "sigmoid")], loss="bce", seed=1, batch=2)
    t = trace(spec)
    for lt in t.layers:
        for g in lt.grads.values():
            assert g.kink is not None and not g.kink.any()
    assert t.agree
