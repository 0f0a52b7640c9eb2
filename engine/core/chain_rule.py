"""The forward pass and the backward pass written out by hand (no autograd anywhere on this path),
layer by layer through the layer protocol (engine.core.layers).

Layer l (DESIGN.md): z_l = layer_l(a_{l-1}), a_l = φ_l(z_l), a_0 = x; for a linear layer z_l = a_{l-1} W_lᵀ + b_l.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.core.layers import Context, Layer
from engine.core.ops import LOSSES, output_delta


@dataclass
class Forward:
    zs: list[torch.Tensor]  # z_1 … z_L, each (B, n_l)
    activations: list[torch.Tensor]  # a_0 = x, a_1 … a_L, each (B, n_l)
    loss: torch.Tensor  # scalar
    caches: list  # what each layer's backward needs


@dataclass
class Backward:
    """Lists indexed by layer l − 1 (layer l from 1), except grad_a which runs a_0 … a_L."""

    delta: list[torch.Tensor]  # δ_l = ∂L/∂z_l, (B, n_l)
    params: list[dict[str, torch.Tensor]]  # ∂L/∂(each parameter of layer l), by torch's names
    grad_a: list[torch.Tensor]  # ∂L/∂a_l, (B, n_l); grad_a[0] = ∂L/∂x

    @property
    def grad_w(self) -> list[torch.Tensor]:  # ∂L/∂W_l = δ_lᵀ a_{l-1}, (n_l, n_{l-1})
        return [g["weight"] for g in self.params]

    @property
    def grad_b(self) -> list[torch.Tensor]:  # ∂L/∂b_l = Σ_rows δ_l, (n_l,)
        return [g["bias"] for g in self.params]


def forward(layers: list[Layer], params: list[dict], loss: str, x, y, ctx: Context | None = None) -> Forward:
    """a_0 = x; z_l, cache_l = layer_l.forward(a_{l-1}); a_l = φ_l(z_l); L = loss(a_L, y)."""
    ctx = ctx or Context()
    with torch.no_grad():
        zs, acts, caches = [], [x], []
        for layer, p in zip(layers, params, strict=True):
            z, a, cache = layer.apply(p, acts[-1], ctx)
            zs.append(z)
            acts.append(a)
            caches.append(cache)
        return Forward(zs, acts, LOSSES[loss].value(acts[-1], y), caches)


def backward(layers: list[Layer], params: list[dict], loss: str, fwd: Forward, y) -> Backward:
    """The chain rule from the output down: δ_L from the loss, then per layer its own backward gives the
    parameter gradients and ∂L/∂a_{l-1}, and δ_{l-1} = ∂L/∂a_{l-1} ⊙ φ'_{l-1}(z_{l-1})."""
    with torch.no_grad():
        n = len(layers)
        delta, grads = [None] * n, [None] * n
        grad_a = [None] * (n + 1)
        grad_a[n], delta[n - 1] = output_delta(loss, layers[-1].activation.name, fwd.zs[-1], fwd.activations[-1], y)
        for l in range(n, 0, -1):  # layer l, list index l − 1
            grads[l - 1], grad_a[l - 1] = layers[l - 1].backward(params[l - 1], fwd.caches[l - 1], delta[l - 1])
            if l > 1:
                below = layers[l - 2].activation
                delta[l - 2] = below.backward(fwd.zs[l - 2], fwd.activations[l - 1], grad_a[l - 1])
        return Backward(delta, grads, grad_a)
