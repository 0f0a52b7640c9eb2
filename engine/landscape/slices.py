"""1-D slices of the loss: along the straight line from a run's initial to its final weights, and between two
runs' final weights (the barrier between two minima, Frankle et al. 2020's linear mode connectivity).

θ(t) = θ_a + t (θ_b − θ_a), t from −(span − 1) to span (0 and 1 always included, where θ(t) = θ_a, θ_b).
barrier = max over t ∈ [0, 1] of L(θ(t)) − [(1 − t) L(θ_a) + t L(θ_b)]: how far the loss rises above the
straight line between the two ends' losses (≤ 0: no barrier).
"""
from __future__ import annotations

import torch

from engine.landscape import finite
from engine.landscape.trajectory import Trajectory


def line_t(n: int, span: float) -> torch.Tensor:
    """n evenly spaced t in [1 − span, span], plus 0 and 1 exactly; ascending, float64."""
    t = torch.cat([torch.linspace(1 - span, span, n, dtype=torch.float64), torch.tensor([0.0, 1.0])])
    return torch.unique(t)  # sorted, duplicates (0, 1 already on the grid) dropped


def line_losses(evaluator, a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """L(a + t (b − a)) for each t; a, b (P,)."""
    a, d = a.double(), b.double() - a.double()
    return evaluator.losses(lambda lo, hi: a + t[lo:hi, None] * d, len(t))


def barrier(t: torch.Tensor, loss: torch.Tensor) -> float:
    inside = (t >= 0) & (t <= 1)
    l0, l1 = loss[t == 0].item(), loss[t == 1].item()
    straight = (1 - t) * l0 + t * l1
    return (loss - straight)[inside].max().item()


def slices(evaluator, trajs: list[Trajectory], n: int, span: float) -> list[dict]:
    """init → final for each run; final ↔ final for each consecutive pair of runs."""
    t = line_t(n, span)
    out = []
    for tr in trajs:
        loss = line_losses(evaluator, tr.points[0], tr.points[-1], t)
        out.append({"kind": "init_final", "run_ids": [tr.run_id], "t": t.tolist(), "loss": finite(loss.tolist())})
    for x, y in zip(trajs, trajs[1:], strict=False):
        loss = line_losses(evaluator, x.points[-1], y.points[-1], t)
        out.append({"kind": "final_final", "run_ids": [x.run_id, y.run_id], "t": t.tolist(),
                    "loss": finite(loss.tolist()), "barrier": barrier(t, loss)})
    return out
