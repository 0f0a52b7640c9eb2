"""What a weight snapshot computes: the MLP rebuilt from a state_dict, class probabilities on a 2-D grid
(the decision boundary), and the effective w, b of an all-linear network (learned vs true parameters).

A snapshot is the trainer's CPU state_dict: keys `linears.{i}.weight` (out, in) and `linears.{i}.bias` (out,).
Everything here runs under torch.no_grad(): no autograd graph is built.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.core.layers import build
from engine.train.model import MLP

GRID_DEFAULT = 60  # points per axis: 3 600 forward rows, a millisecond on a CPU
MAX_GRID = 400


@dataclass
class BoundaryGrid:
    xs: list[float]  # (n,) grid x₁ coordinates, ascending
    ys: list[float]  # (n,) grid x₂ coordinates, ascending
    probs: torch.Tensor  # (n, n, k): probs[i, j] = class probabilities at (xs[j], ys[i])
    pred: torch.Tensor  # (n, n) int64: the predicted class at each point
    kind: str  # "softmax" (cross_entropy), "sigmoid" (bce: [1 − p, p]) or "scores" (mse: raw outputs)


def layer_sizes(state: dict) -> list[int]:
    """[input, units_1, …, units_L] read off the weight shapes (out, in) of a snapshot."""
    n = _n_layers(state)
    if n == 0:
        raise ValueError("the snapshot has no linears.{i}.weight entries")
    return [int(state["linears.0.weight"].shape[1])] + [int(state[f"linears.{i}.weight"].shape[0]) for i in range(n)]


def _n_layers(state: dict) -> int:
    n = 0
    while f"linears.{n}.weight" in state:
        n += 1
    return n


def rebuild_model(state: dict, activations: list) -> MLP:
    """The MLP (CPU, float32) holding the snapshot's weights (and running statistics), in eval mode.
    activations: one name per linear layer, or the run's LayerSpecs (any kinds: BatchNorm, dropout, blocks)."""
    if activations and not isinstance(activations[0], str):
        model = MLP([], [], kinds=build(activations, int(state["linears.0.weight"].shape[1])))
        model.load_state_dict({k: v.detach().to("cpu", torch.float32) for k, v in state.items()})
        return model.eval()
    sizes = layer_sizes(state)
    if len(activations) != len(sizes) - 1:
        raise ValueError(f"the snapshot has {len(sizes) - 1} layers but {len(activations)} activations were given")
    model = MLP(sizes, list(activations))
    model.load_state_dict({k: v.detach().to("cpu", torch.float32) for k, v in state.items()})
    return model.eval()


def grid_bounds(x: torch.Tensor, margin: float = 0.1) -> tuple[float, float, float, float]:
    """(x₁ min, x₁ max, x₂ min, x₂ max) of the points x (n, 2), widened by `margin` of each range."""
    if x.ndim != 2 or x.shape[1] != 2 or len(x) == 0:
        raise ValueError(f"decision boundaries need 2-D inputs (n, 2); got shape {tuple(x.shape)}")
    lo, hi = x.min(dim=0).values, x.max(dim=0).values
    pad = (hi - lo).clamp(min=1e-6) * margin
    lo, hi = (lo - pad).tolist(), (hi + pad).tolist()
    return lo[0], hi[0], lo[1], hi[1]


def grid_points(bounds: tuple[float, float, float, float], n: int = GRID_DEFAULT) -> tuple[torch.Tensor, ...]:
    """xs (n,), ys (n,) and the points (n·n, 2), row r = (xs[r % n], ys[r // n])."""
    if not 2 <= n <= MAX_GRID:
        raise ValueError(f"grid size must be 2–{MAX_GRID}, got {n}")
    x0, x1, y0, y1 = bounds
    xs, ys = torch.linspace(x0, x1, n), torch.linspace(y0, y1, n)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return xs, ys, torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)


@torch.no_grad()
def boundary_grid(state: dict, activations: list, bounds: tuple[float, float, float, float],
                  n: int = GRID_DEFAULT, loss: str = "cross_entropy") -> BoundaryGrid:
    """Class probabilities of the snapshot on an n×n grid over `bounds`.

    cross_entropy: softmax(z_L) over the k outputs; bce: one sigmoid unit p → [1 − p, p];
    mse: the raw outputs a_L (one per class; not probabilities — the prediction is still their argmax)."""
    model = rebuild_model(state, activations)
    xs, ys, pts = grid_points(bounds, n)
    out = model(pts)
    if loss == "cross_entropy":
        probs, kind = torch.softmax(out, dim=1), "softmax"
    elif loss == "bce" and out.shape[1] == 1:
        probs, kind = torch.cat([1 - out, out], dim=1), "sigmoid"
    else:
        probs, kind = out, "scores"
    k = probs.shape[1]
    return BoundaryGrid(xs.tolist(), ys.tolist(), probs.reshape(n, n, k), probs.argmax(dim=1).reshape(n, n), kind)


@torch.no_grad()
def effective_linear(state: dict, activations: list[str]) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(w (out, in), b (out,)) with a_L = x wᵀ + b when every activation is the identity, else None.

    Composing z_l = a_{l-1} W_lᵀ + b_l gives W = W_L ⋯ W_1 and b = b_L + W_L(b_{L-1} + W_{L-1}(…b_1))."""
    if any(a != "identity" for a in activations):
        return None
    n = _n_layers(state)
    w = state["linears.0.weight"].double()
    b = state["linears.0.bias"].double()
    for i in range(1, n):
        wi = state[f"linears.{i}.weight"].double()
        w, b = wi @ w, wi @ b + state[f"linears.{i}.bias"].double()
    return w, b


def compare_params(state: dict, activations: list[str], true_w, true_b) -> list[dict] | None:
    """Rows {name, true, learned, abs_error} for each wᵢ and b of a single-output regression, from the
    snapshot's effective linear map; None when the network is not all-linear or the shapes differ."""
    eff = effective_linear(state, activations)
    if eff is None:
        return None
    w, b = eff
    tw = torch.as_tensor(true_w, dtype=torch.float64).reshape(-1)
    tb = torch.as_tensor(true_b, dtype=torch.float64).reshape(-1)
    if w.shape != (1, len(tw)) or b.shape != (len(tb),) or len(tb) != 1:
        return None
    names = [f"w{i + 1}" for i in range(len(tw))] + ["b"]
    true, learned = torch.cat([tw, tb]), torch.cat([w[0], b])
    return [{"name": n, "true": t, "learned": lv, "abs_error": abs(lv - t)}
            for n, t, lv in zip(names, true.tolist(), learned.tolist(), strict=True)]
