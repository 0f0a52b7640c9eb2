"""What the replay view shows of a 2-D run at step t: every unit's output over the input plane (the
TensorFlow Playground view) and ∂ℓ/∂x on the data points (which way each point would move to lower its loss).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.train.boundary import grid_points
from engine.train.model import loss_fn


@dataclass
class NeuronMaps:
    xs: list[float]  # (n,) grid x₁, ascending
    ys: list[float]  # (n,) grid x₂, ascending
    layers: list[torch.Tensor]  # per layer l: (units_l, n, n), [u, i, j] = a_l[u] at (xs[j], ys[i])


@torch.no_grad()
def neuron_maps(model, bounds: tuple[float, float, float, float], n: int = 40) -> NeuronMaps:
    """a_l = φ_l(a_{l-1} W_lᵀ + b_l) for each layer on an n×n grid: rows (n², in) → (n², units_l) → (units_l, n, n)."""
    xs, ys, pts = grid_points(bounds, n)
    if pts.shape[1] != model.linears[0].in_features:
        raise ValueError(f"per-unit maps need a 2-input network; this one has {model.linears[0].in_features} inputs")
    a, maps = pts.to(model.linears[0].weight.dtype), []
    for lin, act in zip(model.linears, model.acts, strict=True):
        a = act(lin(a))
        maps.append(a.T.reshape(-1, n, n).cpu())
    return NeuronMaps(xs.tolist(), ys.tolist(), maps)


def input_gradients(model, loss: str, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """∂ℓ_i/∂x_i per point, shape (n, in), with ℓ_i the loss of row i alone (sum reduction over rows: rows
    are independent, so one backward gives every row's gradient; the mean would only scale it by 1/n)."""
    x = x.detach().clone().requires_grad_(True)
    out = model(x)
    total = loss_fn(loss)(out, t, reduction="sum")
    (grad,) = torch.autograd.grad(total, x)
    return grad.detach()
