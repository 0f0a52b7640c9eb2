"""engine.core.ops: every activation, loss and hand-written derivative against torch and autograd (float64)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from engine.core.ops import (
    ACTIVATIONS,
    LEAKY_SLOPE,
    LOSSES,
    bce,
    bce_grad,
    cross_entropy,
    cross_entropy_grad,
    mse,
    mse_grad,
    softmax,
    softmax_backward,
    total,
    total_grad,
)

D = torch.float64
TIGHT = dict(rtol=1e-12, atol=1e-14)

TORCH_ACTIVATIONS = {
    "identity": lambda z: z,
    "relu": torch.relu,
    "leaky_relu": lambda z: F.leaky_relu(z, 0.01),
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "softmax": lambda z: torch.softmax(z, dim=1),
}
ELEMENTWISE = ["identity", "relu", "leaky_relu", "sigmoid", "tanh"]


def _points(seed: int, shape=(5, 7), scale: float = 3.0) -> torch.Tensor:
    """Random float64 points with |z| ≥ 0.05, so ReLU/leaky ReLU are never evaluated at their kink."""
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(*shape, generator=gen, dtype=D) * scale
    return torch.where(z.abs() < 0.05, torch.full_like(z, 0.5), z)


def _autograd_derivative(fn, z: torch.Tensor) -> torch.Tensor:
    """Elementwise φ'(z) from autograd: d/dz Σ φ(z) (valid because φ acts elementwise)."""
    z = z.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(fn(z).sum(), z)
    return g


def test_activation_set_is_the_documented_one():
    assert set(ACTIVATIONS) == set(TORCH_ACTIVATIONS)
    assert set(LOSSES) == {"mse", "cross_entropy", "bce", "sum"}
    assert LEAKY_SLOPE == 0.01


@pytest.mark.parametrize("name", list(TORCH_ACTIVATIONS))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_activation_forward_equals_torch(name, seed):
    z = _points(seed)
    torch.testing.assert_close(ACTIVATIONS[name].forward(z), TORCH_ACTIVATIONS[name](z), **TIGHT)


@pytest.mark.parametrize("name", ELEMENTWISE)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_activation_derivative_equals_autograd(name, seed):
    z = _points(seed)
    act = ACTIVATIONS[name]
    expected = _autograd_derivative(TORCH_ACTIVATIONS[name], z)
    torch.testing.assert_close(act.derivative(z), expected, **TIGHT)
    # backward = ∂L/∂a ⊙ φ'(z) for an arbitrary upstream gradient
    grad_a = _points(seed + 100)
    torch.testing.assert_close(act.backward(z, act.forward(z), grad_a), grad_a * expected, **TIGHT)


def test_derivative_values_by_hand():
    z = torch.tensor([[-2.0, -0.5, 0.5, 2.0]], dtype=D)
    assert ACTIVATIONS["relu"].derivative(z).tolist() == [[0.0, 0.0, 1.0, 1.0]]
    assert ACTIVATIONS["leaky_relu"].derivative(z).tolist() == [[0.01, 0.01, 1.0, 1.0]]
    assert ACTIVATIONS["identity"].derivative(z).tolist() == [[1.0, 1.0, 1.0, 1.0]]
    # σ'(0) = 1/4, tanh'(0) = 1
    zero = torch.zeros(1, 1, dtype=D)
    assert ACTIVATIONS["sigmoid"].derivative(zero).item() == pytest.approx(0.25, abs=1e-15)
    assert ACTIVATIONS["tanh"].derivative(zero).item() == pytest.approx(1.0, abs=1e-15)


def test_relu_derivative_at_the_kink_follows_torch_convention():
    """At exactly 0 the manual derivative uses the same one-sided choice as autograd (0 for relu, slope for leaky)."""
    z = torch.zeros(2, 3, dtype=D)
    for name in ("relu", "leaky_relu"):
        expected = _autograd_derivative(TORCH_ACTIVATIONS[name], z)
        torch.testing.assert_close(ACTIVATIONS[name].derivative(z), expected, rtol=0, atol=0)


def test_one_step_deltas_by_hand():
    """The ops table's one-kernel δ's (training runs them every batch): ReLU passes ∂L/∂a where z > 0 only
    (0 at the kink itself), identity passes it unchanged."""
    z = torch.tensor([[-1.0, 0.0, 2.0, -0.0]], dtype=D)
    g = torch.tensor([[5.0, 6.0, 7.0, 8.0]], dtype=D)
    assert ACTIVATIONS["relu"].backward(z, z.clamp(min=0), g).tolist() == [[0.0, 0.0, 7.0, 0.0]]
    assert ACTIVATIONS["identity"].backward(z, z, g).tolist() == [[5.0, 6.0, 7.0, 8.0]]


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_softmax_backward_equals_autograd_vjp(seed):
    z = _points(seed, (4, 5))
    g = _points(seed + 50, (4, 5))
    zr = z.clone().requires_grad_(True)
    (expected,) = torch.autograd.grad(torch.softmax(zr, dim=1), zr, grad_outputs=g)
    a = softmax(z)
    torch.testing.assert_close(softmax_backward(a, g), expected, **TIGHT)
    torch.testing.assert_close(ACTIVATIONS["softmax"].backward(z, a, g), expected, **TIGHT)


def test_softmax_backward_equals_explicit_jacobian():
    """∂a_j/∂z_i = a_j(1[i=j] − a_i): build the Jacobian per row and multiply by hand."""
    z = _points(7, (3, 4))
    g = _points(8, (3, 4))
    a = torch.softmax(z, dim=1)
    expected = torch.stack([(torch.diag(a[r]) - torch.outer(a[r], a[r])) @ g[r] for r in range(3)])
    torch.testing.assert_close(softmax_backward(a, g), expected, **TIGHT)


def test_large_logits_do_not_overflow():
    z = torch.tensor([[1000.0, 999.0, -1000.0], [-800.0, 800.0, 0.0]], dtype=D)
    y = torch.tensor([0, 2])
    a = softmax(z)
    assert torch.isfinite(a).all()
    torch.testing.assert_close(a, torch.softmax(z, dim=1), **TIGHT)
    loss = cross_entropy(z, y)
    assert torch.isfinite(loss)
    torch.testing.assert_close(loss, F.cross_entropy(z, y), **TIGHT)
    grad = cross_entropy_grad(z, y)
    assert torch.isfinite(grad).all()
    zr = z.clone().requires_grad_(True)
    (expected,) = torch.autograd.grad(F.cross_entropy(zr, y), zr)
    torch.testing.assert_close(grad, expected, **TIGHT)
    s = ACTIVATIONS["sigmoid"]
    big = torch.tensor([[-1000.0, 1000.0]], dtype=D)
    assert torch.isfinite(s.forward(big)).all() and torch.isfinite(s.derivative(big)).all()
    torch.testing.assert_close(s.forward(big), torch.sigmoid(big), **TIGHT)


# ---- losses ----

def _loss_and_autograd(fn, a, y):
    ar = a.clone().requires_grad_(True)
    value = fn(ar, y)
    (g,) = torch.autograd.grad(value, ar)
    return value.detach(), g


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mse_equals_torch(seed):
    a, y = _points(seed, (4, 3)), _points(seed + 10, (4, 3))
    value, grad = _loss_and_autograd(F.mse_loss, a, y)
    torch.testing.assert_close(mse(a, y), value, **TIGHT)
    torch.testing.assert_close(mse_grad(a, y), grad, **TIGHT)
    # by hand: mean of squares, gradient 2(a − y)/(B·k)
    torch.testing.assert_close(mse_grad(a, y), 2 * (a - y) / 12, **TIGHT)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cross_entropy_equals_torch(seed):
    z = _points(seed, (5, 4))
    y = torch.randint(0, 4, (5,), generator=torch.Generator().manual_seed(seed))
    value, grad = _loss_and_autograd(F.cross_entropy, z, y)
    torch.testing.assert_close(cross_entropy(z, y), value, **TIGHT)
    torch.testing.assert_close(cross_entropy_grad(z, y), grad, **TIGHT)
    assert LOSSES["cross_entropy"].class_targets


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bce_equals_torch(seed):
    a = torch.sigmoid(_points(seed, (4, 3)))
    y = torch.randint(0, 2, (4, 3), generator=torch.Generator().manual_seed(seed)).to(D)
    value, grad = _loss_and_autograd(F.binary_cross_entropy, a, y)
    torch.testing.assert_close(bce(a, y), value, **TIGHT)
    torch.testing.assert_close(bce_grad(a, y), grad, rtol=1e-10, atol=1e-14)


def test_bce_on_saturated_output_is_finite_like_torch():
    a = torch.tensor([[0.0, 1.0]], dtype=D)
    y = torch.tensor([[1.0, 0.0]], dtype=D)
    assert bce(a, y).item() == pytest.approx(F.binary_cross_entropy(a, y).item())
    assert bce(a, y).item() == pytest.approx(100.0)  # each log clamped at −100, as nn.BCELoss


@pytest.mark.parametrize("seed", [0, 1])
def test_sum_loss_and_upstream_gradient_one(seed):
    a, y = _points(seed, (3, 2)), _points(seed + 1, (3, 2))
    value, grad = _loss_and_autograd(lambda t, _y: t.sum(), a, y)
    torch.testing.assert_close(total(a, y), value, **TIGHT)
    torch.testing.assert_close(total_grad(a, y), grad, rtol=0, atol=0)
    assert total_grad(a, y).tolist() == [[1.0, 1.0]] * 3


@pytest.mark.parametrize("name", list(LOSSES))
def test_loss_table_entries_point_at_the_right_functions(name):
    """The LOSSES registry's value/grad equal autograd of torch's loss on the same inputs."""
    gen = torch.Generator().manual_seed(3)
    if name == "cross_entropy":
        a = torch.randn(4, 3, generator=gen, dtype=D)
        y = torch.randint(0, 3, (4,), generator=gen)
        ref = F.cross_entropy
    elif name == "bce":
        a = torch.sigmoid(torch.randn(4, 3, generator=gen, dtype=D))
        y = torch.randint(0, 2, (4, 3), generator=gen).to(D)
        ref = F.binary_cross_entropy
    else:
        a = torch.randn(4, 3, generator=gen, dtype=D)
        y = torch.randn(4, 3, generator=gen, dtype=D)
        ref = F.mse_loss if name == "mse" else (lambda t, _y: t.sum())
    value, grad = _loss_and_autograd(ref, a, y)
    loss = LOSSES[name]
    torch.testing.assert_close(loss.value(a, y), value, **TIGHT)
    torch.testing.assert_close(loss.grad(a, y), grad, rtol=1e-10, atol=1e-14)
