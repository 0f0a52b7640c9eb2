"""The forward pass and the backward pass written out by hand (no autograd anywhere on this path).

Layer l (DESIGN.md): z_l = a_{l-1} W_lᵀ + b_l, a_l = φ_l(z_l), a_0 = x; W_l is (n_l, n_{l-1}).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.core.ops import ACTIVATIONS, LOSSES, output_delta


@dataclass
class Forward:
    zs: list[torch.Tensor]  # z_1 … z_L, each (B, n_l)
    activations: list[torch.Tensor]  # a_0 = x, a_1 … a_L, each (B, n_l)
    loss: torch.Tensor  # scalar


@dataclass
class Backward:
    """Lists indexed by layer l − 1 (layer l from 1), except grad_a which runs a_0 … a_L."""

    delta: list[torch.Tensor]  # δ_l = ∂L/∂z_l, (B, n_l)
    grad_w: list[torch.Tensor]  # ∂L/∂W_l = δ_lᵀ a_{l-1}, (n_l, n_{l-1})
    grad_b: list[torch.Tensor]  # ∂L/∂b_l = Σ_rows δ_l, (n_l,)
    grad_a: list[torch.Tensor]  # ∂L/∂a_l, (B, n_l); grad_a[0] = ∂L/∂x


def forward(weights, biases, activations: list[str], loss: str, x, y) -> Forward:
    """a_0 = x; z_l = a_{l-1} W_lᵀ + b_l; a_l = φ_l(z_l); L = loss(a_L, y)."""
    with torch.no_grad():
        zs, acts = [], [x]
        for w, b, name in zip(weights, biases, activations, strict=True):
            z = acts[-1] @ w.T + b  # (B, n_{l-1}) (n_{l-1}, n_l) + (n_l,) → (B, n_l)
            zs.append(z)
            acts.append(ACTIVATIONS[name].forward(z))
        return Forward(zs, acts, LOSSES[loss].value(acts[-1], y))


def backward(weights, activations: list[str], loss: str, fwd: Forward, y) -> Backward:
    """The chain rule from the output down, one layer at a time."""
    with torch.no_grad():
        n = len(weights)
        delta, grad_w, grad_b = [None] * n, [None] * n, [None] * n
        grad_a = [None] * (n + 1)
        grad_a[n], delta[n - 1] = output_delta(loss, activations[-1], fwd.zs[-1], fwd.activations[-1], y)
        for l in range(n, 0, -1):  # layer l, list index l − 1
            d = delta[l - 1]  # (B, n_l)
            grad_w[l - 1] = d.T @ fwd.activations[l - 1]  # (n_l, B)(B, n_{l-1}) → (n_l, n_{l-1})
            grad_b[l - 1] = d.sum(dim=0)  # Σ over the batch rows → (n_l,)
            grad_a[l - 1] = d @ weights[l - 1]  # (B, n_l)(n_l, n_{l-1}) → (B, n_{l-1})
            if l > 1:  # δ_{l-1} = ∂L/∂a_{l-1} ⊙ φ'_{l-1}(z_{l-1})
                act = ACTIVATIONS[activations[l - 2]]
                delta[l - 2] = act.backward(fwd.zs[l - 2], fwd.activations[l - 1], grad_a[l - 1])
        return Backward(delta, grad_w, grad_b, grad_a)
