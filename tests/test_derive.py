"""engine.teach.derive: the revealed derivation writes exactly the asked element's terms, with the numbers
a hand computation (or torch) gives."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from engine.inspector.materialize import materialize
from engine.inspector.presets import preset
from engine.inspector.spec import LayerSpec, NetworkSpec
from engine.inspector.trace import trace
from engine.teach.derive import derivation


def _n(v: float) -> str:
    """4 significant digits, a negative number in parentheses (how the derivation writes numbers)."""
    return f"({v:.4g})" if v < 0 else f"{v:.4g}"


def _tex(eqs) -> str:
    return " ".join(e.latex for e in eqs)


def test_the_single_weight_term_by_term():
    t = trace(preset("line"))  # ŷ = 1·2 + 1 = 3, ∂L/∂ŷ = 2(3 − 10) = −14, ∂L/∂W = −14·2 = −28
    assert r"(-14)\cdot2 = (-28)" in _tex(derivation(t, "weight", 1, (0, 0)))
    assert r"\frac{2(3 - 10)}{1} = (-14)" in _tex(derivation(t, "delta", 1, (0, 0)))
    assert r"2\cdot1 + 1 = 3" in _tex(derivation(t, "a", 1, (0, 0)))
    assert r"= (-14) = (-14)" in _tex(derivation(t, "bias", 1, (0,)))


def test_a_hidden_delta_shows_what_the_layer_receives_and_its_slope():
    spec = NetworkSpec(3, [LayerSpec(2, "sigmoid"), LayerSpec(1, "identity")], loss="mse", seed=3, batch=4)
    m = materialize(spec)
    w1, w2 = m.weights[0].clone().requires_grad_(True), m.weights[1]
    z1 = F.linear(m.x, w1, m.biases[0])
    z1.retain_grad()
    F.mse_loss(F.linear(torch.sigmoid(z1), w2, m.biases[1]), m.y).backward()
    slope = torch.sigmoid(z1[2, 1]) * (1 - torch.sigmoid(z1[2, 1]))  # σ′(z) = σ(1 − σ)
    tex = _tex(derivation(trace(spec), "delta", 1, (2, 1)))
    assert rf"\cdot{_n(w2[0, 1].item())} = " in tex  # δ_2[2,0]·W_2[0,1]: the one term of ∂L/∂a_1[2,1]
    assert rf"\cdot{_n(slope.item())} = {_n(z1.grad[2, 1].item())}" in tex


def test_shapes_are_derived_from_the_network():
    t = trace(preset("two-layer"))  # 3 → 2 → 1, B = 4
    assert r"(2\times 4)\,(4\times 3) = (2\times 3)" in _tex(derivation(t, "weight", 1, None))
    assert r"(4\times 2) \to (2,)" in _tex(derivation(t, "bias", 1, None))


def test_cross_entropy_output_is_softmax_minus_onehot_over_b():
    spec = NetworkSpec(2, [LayerSpec(3, "identity")], loss="cross_entropy", seed=1, batch=2)
    m = materialize(spec)
    p = torch.softmax(F.linear(m.x, m.weights[0], m.biases[0]), dim=1)
    y0 = int(m.y[0])
    tex = _tex(derivation(trace(spec), "delta", 1, (0, y0)))
    assert rf"\frac{{{p[0, y0].item():.4g} - 1}}{{2}}" in tex
