"""engine.lessons.activations: hand-written φ' equals autograd on a grid; dead and saturated regions are right."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from engine.core.ops import ACTIVATIONS
from engine.lessons import activations as A

ELEMENTWISE = [n for n, a in ACTIVATIONS.items() if a.elementwise]
REFERENCE = {"identity": lambda z: z + 0.0, "relu": F.relu, "leaky_relu": lambda z: F.leaky_relu(z, 0.01),
             "sigmoid": torch.sigmoid, "tanh": torch.tanh}
STEP = 0.01  # grid spacing of the default grid on [−6, 6]


def _autograd_derivative(name: str, z: torch.Tensor) -> torch.Tensor:
    leaf = z.clone().requires_grad_(True)
    REFERENCE[name](leaf).sum().backward()
    return leaf.grad


def test_grid_is_symmetric_with_exact_zero():
    z = A.grid()
    assert len(z) == 1201 and float(z[0]) == -6.0 and float(z[-1]) == 6.0 and float(z[600]) == 0.0
    assert torch.allclose(z[1:] - z[:-1], torch.full((1200,), STEP, dtype=torch.float64))


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_hand_written_derivative_equals_autograd_off_the_kink(name):
    z = A.grid()
    z = z[z != 0]  # relu and leaky_relu have no derivative at 0; elsewhere they must agree exactly
    ours = ACTIVATIONS[name].derivative(z)
    assert torch.allclose(ours, _autograd_derivative(name, z), rtol=0, atol=1e-15)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_curve_reports_the_real_max_difference(name):
    curve = A.activation_curve(name)
    z = A.grid()
    ref_phi = REFERENCE[name](z)
    assert torch.equal(curve.z, z)
    assert torch.allclose(curve.torch_phi, ref_phi, rtol=0, atol=0)
    assert curve.max_diff_phi == pytest.approx(float((ACTIVATIONS[name].forward(z) - ref_phi).abs().max()), abs=0)
    assert curve.max_diff_dphi == float((curve.dphi - _autograd_derivative(name, z)).abs().max())
    assert curve.max_diff_phi < 1e-12 and curve.max_diff_dphi < 1e-12


def test_derivatives_by_hand():
    z = torch.tensor([-2.0, 0.0, 3.0], dtype=torch.float64)
    assert ACTIVATIONS["sigmoid"].derivative(z)[1] == 0.25  # σ(0)(1 − σ(0)) = ½·½
    assert ACTIVATIONS["tanh"].derivative(z)[1] == 1.0
    assert ACTIVATIONS["relu"].derivative(z).tolist() == [0.0, 0.0, 1.0]
    assert ACTIVATIONS["leaky_relu"].derivative(z).tolist() == [0.01, 0.01, 1.0]


def _sigmoid_edge(t: float) -> float:
    """σ'(z) = σ(1 − σ) = t at σ = (1 − √(1 − 4t))/2, i.e. |z| = ln((1 + √(1−4t)) / (1 − √(1−4t)))."""
    r = math.sqrt(1 - 4 * t)
    return math.log((1 + r) / (1 - r))


def _tanh_edge(t: float) -> float:
    """tanh'(z) = 1 − tanh² z = t at |z| = atanh(√(1 − t))."""
    return math.atanh(math.sqrt(1 - t))


def _assert_symmetric_saturation(curve: A.ActivationCurve, edge: float) -> None:
    """Saturated exactly on the grid points with |z| > edge: [−6, −edge⁺] and [edge⁺, 6]."""
    kinds = [(r.kind, r.lo, r.hi) for r in curve.regions]
    assert [k for k, _, _ in kinds] == ["saturated", "saturated"]
    (_, lo1, hi1), (_, lo2, hi2) = kinds
    assert lo1 == -6.0 and hi2 == 6.0
    assert -edge - STEP < hi1 < -edge and edge < lo2 < edge + STEP


@pytest.mark.parametrize("threshold", [0.01, 0.05, 0.1])
def test_sigmoid_saturates_beyond_the_hand_derived_edge(threshold):
    edge = _sigmoid_edge(threshold)
    if threshold == 0.01:
        assert edge == pytest.approx(4.5849, abs=1e-4)  # the "|z| > ~4.6" rule of thumb
    _assert_symmetric_saturation(A.activation_curve("sigmoid", threshold), edge)


def test_tanh_saturates_beyond_the_hand_derived_edge():
    edge = _tanh_edge(0.01)
    assert edge == pytest.approx(2.9932, abs=1e-4)
    _assert_symmetric_saturation(A.activation_curve("tanh"), edge)


def test_relu_is_dead_for_non_positive_z_and_leaky_is_not():
    relu = A.activation_curve("relu")
    assert [(r.kind, r.lo, r.hi) for r in relu.regions] == [("dead", -6.0, 0.0)]  # φ'(0) := 0, as torch
    assert A.activation_curve("leaky_relu").regions == []  # slope 0.01 is not below the 0.01 threshold
    assert A.activation_curve("identity").regions == []
    leaky = A.activation_curve("leaky_relu", threshold=0.05)  # but it is below 0.05
    assert [(r.kind, r.lo, r.hi) for r in leaky.regions] == [("saturated", -6.0, 0.0)]


def test_runs_finds_maximal_true_stretches():
    z = torch.arange(6, dtype=torch.float64)
    mask = torch.tensor([True, True, False, False, True, True])
    assert A.runs(z, mask) == [(0.0, 1.0), (4.0, 5.0)]
    assert A.runs(z, torch.zeros(6, dtype=torch.bool)) == []
    assert A.runs(z, torch.tensor([False, True, False, True, False, False])) == [(1.0, 1.0), (3.0, 3.0)]


def test_softmax_curve_matches_the_jacobian_formula_and_autograd():
    c = A.softmax_curve()
    z = A.grid()
    assert c.others == (1.0, -1.0)
    logits = torch.stack([z, torch.ones_like(z), -torch.ones_like(z)], dim=1)
    a = torch.softmax(logits, dim=1)
    # ∂a₁/∂z₁ = a₁(1 − a₁); ∂a_j/∂z₁ = −a_j a₁ for j ≠ 1
    expected = torch.stack([a[:, 0] * (1 - a[:, 0]), -a[:, 1] * a[:, 0], -a[:, 2] * a[:, 0]], dim=1)
    assert torch.allclose(c.a, a, rtol=0, atol=1e-15)
    assert torch.allclose(c.jac_col, expected, rtol=0, atol=1e-15)
    # by hand at z = 0: a = (1, e, 1/e) / (1 + e + 1/e)
    s = 1 + math.e + 1 / math.e
    a1, a2, a3 = 1 / s, math.e / s, 1 / (math.e * s)
    assert c.a[600].tolist() == pytest.approx([a1, a2, a3], rel=1e-14)
    assert c.jac_col[600].tolist() == pytest.approx([a1 * (1 - a1), -a2 * a1, -a3 * a1], rel=1e-14)
    assert torch.allclose(c.jac_col.sum(dim=1), torch.zeros(len(z), dtype=torch.float64), atol=1e-15)
    assert c.max_diff_a == float((c.a - c.torch_a).abs().max()) < 1e-12
    assert c.max_diff_jac == float((c.jac_col - c.torch_jac_col).abs().max()) < 1e-12
    assert torch.allclose(c.torch_jac_col, expected, rtol=0, atol=1e-15)


def test_softmax_is_refused_by_the_elementwise_curve():
    with pytest.raises(ValueError, match="softmax_curve"):
        A.activation_curve("softmax")


def test_every_elementwise_activation_has_a_reference_and_a_note():
    assert {n for n, a in ACTIVATIONS.items() if a.elementwise} == set(ELEMENTWISE) == set(A.GRADIENT_NOTES)
