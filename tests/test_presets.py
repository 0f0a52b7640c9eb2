"""The worked examples: every number derived by hand or recomputed with plain numpy formulas in the test."""
from __future__ import annotations

import numpy as np
import pytest

from engine.inspector.presets import PRESETS, preset
from engine.inspector.trace import trace


def _np(t) -> np.ndarray:
    return t.detach().numpy().astype(np.float64)


def test_preset_names():
    assert set(PRESETS) == {"line", "two-layer", "linear-chain", "single-step", "batchnorm", "residual", "dropout"}
    with pytest.raises(KeyError, match="unknown preset 'nope'"):
        preset("nope")


def test_presets_are_fresh_copies():
    a = preset("line")
    a.layers[0].weight = [[5.0]]
    assert preset("line").layers[0].weight == [[1.0]]


def test_line():
    # ŷ = W x + b = 1·2 + 1 = 3; L = (3 − 10)² = 49; ∂L/∂ŷ = 2(3 − 10) = −14; ∂L/∂W = −14·2 = −28; ∂L/∂b = −14
    t = trace(preset("line"))
    (lt,) = t.layers
    assert lt.z.tolist() == [[3.0]] and lt.a.tolist() == [[3.0]]
    assert t.loss == 49.0
    for source in ("manual", "autograd"):
        assert getattr(lt.grads["weight"], source).tolist() == [[-28.0]]
        assert getattr(lt.grads["bias"], source).tolist() == [-14.0]
        assert getattr(lt.grads["z"], source).tolist() == [[-14.0]]
        assert getattr(lt.grads["input"], source).tolist() == [[-14.0]]  # ∂L/∂x = ∂L/∂ŷ · W
    assert lt.grads["weight"].numerical.item() == pytest.approx(-28.0, abs=1e-6)
    assert lt.grads["bias"].numerical.item() == pytest.approx(-14.0, abs=1e-6)
    assert t.agree


def test_linear_chain():
    t = trace(preset("linear-chain"))
    w1, w2, w3 = (_np(lt.weight) for lt in t.layers)
    b1, b2, b3 = (_np(lt.bias) for lt in t.layers)
    assert (w1.shape, w2.shape, w3.shape) == ((3, 2), (5, 3), (1, 5))
    x = np.array([[1.0, -2.0]])
    np.testing.assert_array_equal(_np(t.x), x)
    a1 = x @ w1.T + b1
    a2 = a1 @ w2.T + b2
    out = a2 @ w3.T + b3
    assert t.loss == pytest.approx(out.sum(), rel=1e-12)
    ones = np.ones((1, 1))  # upstream gradient ∂L/∂out = 1 (loss "sum")
    g = t.layers
    np.testing.assert_allclose(_np(g[0].grads["input"].manual), ones @ w3 @ w2 @ w1, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(_np(g[2].grads["weight"].manual), a2, rtol=1e-12, atol=1e-14)  # δ3 = 1
    np.testing.assert_allclose(_np(g[2].grads["bias"].manual), [1.0], rtol=0, atol=0)
    np.testing.assert_allclose(_np(g[1].grads["weight"].manual), (ones @ w3).T @ a1, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(_np(g[0].grads["weight"].manual), (ones @ w3 @ w2).T @ x, rtol=1e-12, atol=1e-14)
    # "receiver" vs "intermediate": ∂L/∂a_1 = 1ᵀ W3 W2 is what layer 1 receives
    np.testing.assert_allclose(_np(g[0].grads["a"].manual), ones @ w3 @ w2, rtol=1e-12, atol=1e-14)
    assert t.agree


def test_single_step():
    t = trace(preset("single-step"))
    (lt,) = t.layers
    w, b = _np(lt.weight), _np(lt.bias)
    assert w.shape == (2, 4) and b.shape == (2,)
    x = np.array([[0.8, 0.4, 0.4, 0.2]])
    y = np.array([[1.0, 0.0]])
    y_hat = x @ w.T + b
    assert t.loss == pytest.approx(((y_hat - y) ** 2).mean(), rel=1e-12)
    # L = (1/2) Σ (ŷ − y)²  →  ∂L/∂W = (2/2)(ŷ − y)ᵀ x,  ∂L/∂b = (2/2)(ŷ − y)
    np.testing.assert_allclose(_np(lt.grads["weight"].manual), (2 / 2) * (y_hat - y).T @ x, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(_np(lt.grads["bias"].manual), (2 / 2) * (y_hat - y)[0], rtol=1e-12, atol=1e-14)
    assert t.agree


def test_two_layer():
    t = trace(preset("two-layer"))
    assert t.spec.sizes == [3, 2, 1] and [lt.activation for lt in t.layers] == ["relu", "identity"]
    w1, b1, w2, b2 = _np(t.layers[0].weight), _np(t.layers[0].bias), _np(t.layers[1].weight), _np(t.layers[1].bias)
    x, y = _np(t.x), _np(t.y)
    assert x.shape == (4, 3) and y.shape == (4, 1)
    z1 = x @ w1.T + b1
    a1 = np.maximum(z1, 0)
    z2 = a1 @ w2.T + b2
    loss = ((z2 - y) ** 2).mean()
    d2 = 2 * (z2 - y) / z2.size
    d1 = (d2 @ w2) * (z1 > 0)
    assert t.loss == pytest.approx(loss, rel=1e-12)
    expected = [
        {"z": d1, "weight": d1.T @ x, "bias": d1.sum(0), "input": d1 @ w1, "a": d2 @ w2},
        {"z": d2, "weight": d2.T @ a1, "bias": d2.sum(0), "input": d2 @ w2, "a": d2},
    ]
    np.testing.assert_allclose(_np(t.layers[0].z), z1, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(_np(t.layers[0].a), a1, rtol=1e-12, atol=1e-14)
    for lt, exp in zip(t.layers, expected, strict=True):
        for name, value in exp.items():
            np.testing.assert_allclose(_np(lt.grads[name].manual), value, rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(_np(lt.grads[name].autograd), value, rtol=1e-12, atol=1e-14)
    assert t.agree


def test_batchnorm_preset_normalises_and_gives_the_bias_before_it_no_gradient():
    """BatchNorm subtracts each feature's batch mean, so a bias added before it cancels: ∂L/∂b₁ = 0 exactly
    in theory (≈1e-17 in float64); the normalised x̂ has mean 0 and biased variance var/(var + ε) per feature."""
    t = trace(preset("batchnorm"))
    assert t.agree and [lt.layer.type for lt in t.layers] == ["linear", "batchnorm", "linear"]
    assert t.layers[0].grads["bias"].manual.abs().max() < 1e-15
    assert t.layers[0].grads["weight"].manual.abs().max() > 1e-3
    bn = t.layers[1]
    x_hat, var = bn.values["x_hat"], bn.values["var"]
    assert x_hat.mean(0).abs().max() < 1e-12
    assert (x_hat.var(0, unbiased=False) - var / (var + 1e-5)).abs().max() < 1e-12


def test_residual_and_dropout_presets_trace_every_layer():
    res = trace(preset("residual"))
    assert res.agree and [lt.index for top in res.layers for lt in top.flat()] == list(range(1, 9))
    drop = trace(preset("dropout"))
    mask = drop.layers[1].values["mask"]
    assert drop.agree and 0 < mask.sum() < mask.numel()
    assert (drop.layers[1].z[mask == 0] == 0).all()  # dropped units pass 0 on, kept ones twice their input
    assert (drop.layers[1].z[mask == 1] == 2 * drop.layers[1].input[mask == 1]).all()
