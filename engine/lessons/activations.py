"""Activations sampled on a grid: the hand-written φ and φ' of engine.core.ops against torch's.

The torch reference is torch's own function (torch.relu, F.leaky_relu, torch.sigmoid, torch.tanh) and
its derivative comes from autograd, so the comparison checks our formulas against independent code.
Regions where the gradient dies (φ' = 0) or nearly dies (|φ'| < threshold) are found on the same grid.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from engine.core.ops import ACTIVATIONS, LEAKY_SLOPE, SATURATION, softmax

Z_RANGE = (-6.0, 6.0)
N_POINTS = 1201  # step 0.01 on [−6, 6]; z = 0 is a grid point

# What each activation's derivative does to the gradient flowing back through it (shown on the page).
GRADIENT_NOTES: dict[str, str] = {
    "identity": "φ' = 1 everywhere: the gradient passes through unchanged — but a stack of linear layers "
                "is still one linear map.",
    "relu": "φ' = 1 for z > 0 and exactly 0 for z < 0: a unit whose z is negative for every input passes no "
            "gradient back and never recovers (a dead ReLU).",
    "leaky_relu": f"φ' = {LEAKY_SLOPE} for z < 0 instead of 0: a small but non-zero gradient keeps negative "
                  "units trainable, so they cannot die.",
    "sigmoid": "φ' ≤ 0.25 everywhere and below 0.01 for |z| > 4.6: each sigmoid layer shrinks the gradient "
               "at least 4×, and saturated units pass almost none back (vanishing gradients).",
    "tanh": "φ' = 1 at z = 0 (4× sigmoid's best) but below 0.01 for |z| > 3: saturated tanh units still "
            "block the gradient.",
}


@dataclass
class Region:
    """An interval [lo, hi] of grid points where the gradient is dead (φ' = 0) or saturated (|φ'| < thr)."""

    kind: str  # "dead" or "saturated"
    lo: float
    hi: float


@dataclass
class ActivationCurve:
    """φ and φ' on a grid z (n,), hand-written and torch, with their largest differences and regions."""

    name: str
    z: torch.Tensor
    phi: torch.Tensor
    dphi: torch.Tensor
    torch_phi: torch.Tensor
    torch_dphi: torch.Tensor
    max_diff_phi: float  # max_z |φ(z) − torch φ(z)|
    max_diff_dphi: float  # max_z |φ'(z) − autograd φ'(z)|
    regions: list[Region]


def grid(lo: float = Z_RANGE[0], hi: float = Z_RANGE[1], n: int = N_POINTS) -> torch.Tensor:
    """n evenly spaced z values in float64, built around the midpoint so that, for odd n, the middle
    point is the midpoint exactly (z = 0 on [−6, 6], not linspace's −1e-16) and the grid is symmetric."""
    mid, step = (lo + hi) / 2, (hi - lo) / (n - 1)
    return mid + (torch.arange(n, dtype=torch.float64) - (n - 1) / 2) * step


def torch_value_and_grad(name: str, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """torch's φ(z) and, by autograd, φ'(z): elementwise φ means ∂(Σ φ(z))/∂z_i = φ'(z_i)."""
    leaf = z.detach().clone().requires_grad_(True)
    out = ACTIVATIONS[name].torch(leaf)  # torch's own function (ops' twin)
    (grad,) = torch.autograd.grad(out.sum(), leaf)
    return out.detach(), grad


def runs(z: torch.Tensor, mask: torch.Tensor) -> list[tuple[float, float]]:
    """The maximal runs of consecutive True in mask (n,), as (first z, last z) pairs."""
    out: list[tuple[float, float]] = []
    start = None
    for i, flag in enumerate(mask.tolist()):
        if flag and start is None:
            start = i
        if start is not None and (not flag or i == len(mask) - 1):
            end = i if flag else i - 1
            out.append((float(z[start]), float(z[end])))
            start = None
    return out


def gradient_regions(z: torch.Tensor, dphi: torch.Tensor, threshold: float = SATURATION) -> list[Region]:
    """Dead where φ'(z) = 0 exactly; saturated where 0 < |φ'(z)| < threshold."""
    dead = dphi == 0
    saturated = (dphi.abs() < threshold) & ~dead
    return ([Region("dead", lo, hi) for lo, hi in runs(z, dead)]
            + [Region("saturated", lo, hi) for lo, hi in runs(z, saturated)])


def activation_curve(name: str, threshold: float = SATURATION, n: int = N_POINTS) -> ActivationCurve:
    """Sample an elementwise activation of engine.core.ops and compare it with torch's."""
    act = ACTIVATIONS[name]
    if not act.elementwise:
        raise ValueError(f"{name!r} is not elementwise; use softmax_curve for it")
    z = grid(n=n)
    phi, dphi = act.forward(z), act.derivative(z)
    t_phi, t_dphi = torch_value_and_grad(name, z)
    return ActivationCurve(name, z, phi, dphi, t_phi, t_dphi,
                           float((phi - t_phi).abs().max()), float((dphi - t_dphi).abs().max()),
                           gradient_regions(z, dphi, threshold))


@dataclass
class SoftmaxCurve:
    """3-way softmax of logits (z, o₁, o₂) as z varies: outputs a (n, 3) and Jacobian column ∂a_j/∂z₁ (n, 3)."""

    others: tuple[float, float]  # the two fixed logits z₂, z₃
    z: torch.Tensor
    a: torch.Tensor
    jac_col: torch.Tensor  # hand-written: softmax_backward with ∂L/∂a = e_j gives ∂a_j/∂z, column 0 kept
    torch_a: torch.Tensor
    torch_jac_col: torch.Tensor  # autograd on torch.softmax
    max_diff_a: float
    max_diff_jac: float


SOFTMAX_OTHERS = (1.0, -1.0)  # unequal, so the three outputs are three different curves


def softmax_curve(n: int = N_POINTS, others: tuple[float, float] = SOFTMAX_OTHERS) -> SoftmaxCurve:
    """a = softmax(z, o₁, o₂) for z on the grid; ∂a₁/∂z₁ = a₁(1 − a₁) and ∂a_j/∂z₁ = −a_j a₁ (j ≠ 1)."""
    z = grid(n=n)
    logits = torch.stack([z, torch.full_like(z, others[0]), torch.full_like(z, others[1])], dim=1)  # (n, 3)
    a = softmax(logits)
    act = ACTIVATIONS["softmax"]
    # Row j of the Jacobian is the backward of upstream gradient e_j; we keep its z₁ entry: ∂a_j/∂z₁.
    jac = torch.stack([act.backward(logits, a, F.one_hot(torch.full((n,), j), 3).to(a.dtype))[:, 0]
                       for j in range(3)], dim=1)
    leaf = logits.clone().requires_grad_(True)
    t_a = torch.softmax(leaf, dim=1)
    t_jac = torch.stack([torch.autograd.grad(t_a[:, j].sum(), leaf, retain_graph=True)[0][:, 0]
                         for j in range(3)], dim=1)
    t_a = t_a.detach()
    return SoftmaxCurve(others, z, a, jac, t_a, t_jac, float((a - t_a).abs().max()), float((jac - t_jac).abs().max()))
