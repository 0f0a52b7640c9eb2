"""Per-layer gradient health: norms, update ratios, dead and saturated units, histograms, and flags.

Thresholds (documented in the UI):
- vanishing: ‖∂L/∂W_l‖_F < VANISHING (the layer has all but stopped learning);
- exploding: ‖∂L/∂W_l‖_F > EXPLODING, or update ratio ‖ΔW_l‖/‖W_l‖ > UPDATE_TOO_LARGE
  (a healthy ratio is around 1e-3, the rule of thumb from CS231n);
- dead: a ReLU unit whose z ≤ 0 for every row of the batch passes no gradient at all (leaky ReLUs cannot
  die: their slope below 0 is LEAKY_SLOPE, not 0);
- saturated: a sigmoid/tanh output where φ'(z) < SATURATION (engine.core.ops holds both rules).
"""
from __future__ import annotations

import math
import time
import weakref

import torch

VANISHING = 1e-6
EXPLODING = 1e3
UPDATE_TOO_LARGE = 1e-1
DEAD_TOO_MANY = 0.5  # flag a layer when more than half its ReLUs are dead
HIST_BINS = 30
STATS_BUDGET = 0.05  # auto cadence: recording health stats may cost at most this share of the run's time
MAX_STATS_STEPS = 5000  # … and a run records at most about this many steps (evenly sampled above)


class StatsCadence:
    """At which steps the loop records health stats: steps s (done before it) that are due, reported as step
    s + 1 (the loop adds the run's last step).

    Fixed (every = k): s % k == 0, i.e. steps 1, 1 + k, 1 + 2k, …
    Auto (every = None, the default): every step while recording costs ≤ STATS_BUDGET of the run's time, else
    every k-th with k the smallest that does, re-chosen after each record from what this run has measured
    (host seconds in the stats calls per record vs seconds per plain step); never denser than
    k = ⌈total_steps / MAX_STATS_STEPS⌉, so a long run keeps ≤ ~5 000 records. Why a budget and not every step:
    a stats step is ~40 small ops and 5 passes over W and ∂L/∂W — 60–80 % of an MNIST training step on this
    CPU (tools/stats_cost.py), which every step would add to the hot loop (bench row 1, issue 16). Which steps
    are recorded therefore depends on timing; what the run computes never does (stats only read tensors) — which
    is what lets engine/train/health_fill.py fill in every step afterwards by an exact replay."""

    def __init__(self, every: int | None, total_steps: int, clock=time.perf_counter):
        self.every, self.clock = every, clock
        self.floor = max(1, math.ceil(total_steps / MAX_STATS_STEPS))
        self.start, self.next = clock(), None
        self.stats_s, self.records, self.steps = 0.0, 0, 0

    def due(self, step: int) -> bool:
        """Record the step that starts after `step` steps?"""
        self.steps += 1
        if self.every is not None:
            return step % self.every == 0
        return self.next is None or step >= self.next

    def recorded(self, step: int, seconds: float) -> None:
        """The step after `step` was recorded, its stats taking `seconds` of host time: choose the next one."""
        self.stats_s += seconds
        self.records += 1
        plain = max(self.clock() - self.start - self.stats_s, 1e-9) / max(self.steps, 1)
        k = math.ceil(self.stats_s / self.records / (STATS_BUDGET * plain))
        self.next = step + max(self.floor, k)


def pre_step_stats(model, zs: list[torch.Tensor], outputs: list[torch.Tensor]) -> tuple[torch.Tensor, list]:
    """Stats that need the gradients and activations of this step; (L, 9) device table + the weights' copies.

    Per layer (through the layer protocol): the kind's health_param (a linear layer's W) gives the gradient
    and weight norms; its activation's rules from engine.core.ops give the dead and saturated fractions.
    Columns: ‖∂L/∂W_l‖, ‖W_l‖, dead, saturated, mean(a_l), std(a_l), max|W_l|, max|∂L/∂W_l|, max|a_l| (the
    maxima give a replay one colour scale over the whole run). No host sync: the caller reads the table when
    it syncs anyway. The ops are few (tools/stats_cost.py measures them):
    both norms of all layers in one _foreach_norm, each max|t| from one aminmax pass (max(max t, −min t)),
    std as the two-pass sqrt(mean((a − mean a)²)) (std_mean took 3× as long on small tensors), one stack, and
    the weights copied by one _foreach_copy_ into buffers kept per model (post_step_stats uses them as
    scratch: it must run before the next pre_step_stats of the same model, as the loop does)."""
    followed = [_followed(m, z) for m, z in zip(model.linears, zs, strict=True)]  # kinds without one: a 0
    ws = [w for w, _ in followed]
    grads = [g if g is not None else torch.zeros_like(w) for w, g in followed]
    rules = [m.kind.activation for m in model.linears]
    zero = ws[0].new_zeros(())  # the rules' 0 for kinds that cannot die or saturate, made once
    dead = [r.dead_fraction(z) if r.can_die else zero for r, z in zip(rules, zs, strict=True)]
    saturated = [r.saturated_fraction(a) if r.slope_from_a else zero for r, a in zip(rules, outputs, strict=True)]
    means = [a.mean() for a in outputs]
    stds = [torch.linalg.vector_norm(a - m).div_(math.sqrt(a.numel())) for a, m in zip(outputs, means, strict=True)]
    lo_hi = [t.aminmax() for t in (*ws, *grads, *outputs)]
    flat = torch.stack([*torch._foreach_norm([*grads, *ws]), *dead, *saturated, *means, *stds,
                        *[hi for _, hi in lo_hi], *[lo for lo, _ in lo_hi]])
    rows = flat.view(12, len(ws))  # 6 statistics, then max t and min t of W, ∂L/∂W, a: a row of L each
    table = torch.cat([rows[:6], torch.maximum(rows[6:9], rows[9:12].neg())]).T
    return table, _copy_weights(model, ws)


def post_step_stats(model, pre: torch.Tensor, before: list[torch.Tensor]) -> torch.Tensor:
    """(L, 10): pre's columns and the update ratio ‖W_l − W_l⁰‖/‖W_l⁰‖ (W⁰ the weights before the step).
    `before` (pre_step_stats' copies) is overwritten with W_l⁰ − W_l: the norm does not see the sign."""
    followed = [_followed(m, w0)[0] for m, w0 in zip(model.linears, before, strict=True)]
    torch._foreach_sub_(before, followed)
    moved = torch.stack(torch._foreach_norm(before))
    return torch.cat([pre, (moved / (pre[:, 1] + 1e-12))[:, None]], dim=1)


_WEIGHT_COPIES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model → its weight buffers


def _copy_weights(model, ws: list[torch.Tensor]) -> list[torch.Tensor]:
    """ws copied into the model's buffers (made again when a shape, dtype or device changes)."""
    bufs = _WEIGHT_COPIES.get(model)
    if bufs is None or [(b.shape, b.dtype, b.device) for b in bufs] != [(w.shape, w.dtype, w.device) for w in ws]:
        bufs = _WEIGHT_COPIES[model] = [torch.empty_like(w) for w in ws]
    torch._foreach_copy_(bufs, ws)
    return bufs


STAT_COLUMNS = ("grad_norm", "weight_norm", "dead_fraction", "saturated_fraction", "act_mean", "act_std",
                "weight_max", "grad_max", "act_max", "update_ratio")  # post_step_stats' columns, in order


def stats_rows(table: list[list[float]], step: int, epoch: int) -> list[dict]:
    """Rows for the store, one per layer, from post_step_stats' table read on the host."""
    return [{"step": step, "epoch": epoch, "layer": i, **dict(zip(STAT_COLUMNS, row, strict=True))}
            for i, row in enumerate(table, start=1)]


def layer_stats(model, pre: torch.Tensor, before: list[torch.Tensor], step: int, epoch: int) -> list[dict]:
    """Rows for the store, one per layer (one host sync for all layers)."""
    return stats_rows(post_step_stats(model, pre, before).tolist(), step, epoch)


def _followed(module, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(the followed parameter, its gradient); a kind with none (dropout, a residual block) gives a single 0
    (an empty tensor has no maximum): norms 0, maxima 0, ratio 0, and no gradient flags."""
    if module.kind.health_param is None:
        return like.new_zeros(1), None
    p = getattr(module, module.kind.health_param)
    return p.detach(), p.grad


def flags(row: dict) -> list[str]:
    """Human-readable warnings for one layer's stats row."""
    out = []
    gn = row.get("grad_norm")
    if gn == 0 and row.get("weight_norm") == 0:  # dropout, a residual block: no parameter of its own followed
        gn = None
    if gn is not None and gn == gn:  # NaN-safe
        if gn < VANISHING:
            out.append(f"vanishing gradient (‖∂L/∂W‖ = {gn:.1e} < {VANISHING:.0e})")
        elif gn > EXPLODING:
            out.append(f"exploding gradient (‖∂L/∂W‖ = {gn:.1e} > {EXPLODING:.0e})")
    if (row.get("update_ratio") or 0) > UPDATE_TOO_LARGE:
        out.append(f"updates too large (‖ΔW‖/‖W‖ = {row['update_ratio']:.1e} > {UPDATE_TOO_LARGE:.0e}; "
                   "~1e-3 is healthy)")
    if (row.get("dead_fraction") or 0) > DEAD_TOO_MANY:
        out.append(f"{row['dead_fraction']:.0%} of ReLUs dead (z ≤ 0 for the whole batch)")
    if (row.get("saturated_fraction") or 0) > DEAD_TOO_MANY:
        out.append(f"{row['saturated_fraction']:.0%} saturated (φ' < 0.01)")
    return out


def histograms(model) -> list[dict]:
    """Weight and gradient histograms per layer: {"layer", "kind", "counts", "edges"}."""
    out = []
    for i, module in enumerate(model.linears, start=1):
        if module.kind.health_param is None:
            continue
        p = getattr(module, module.kind.health_param)
        for kind, t in (("weight", p.detach()), ("grad", p.grad)):
            if t is None or not torch.isfinite(t).all():
                continue
            lo, hi = t.min().item(), t.max().item()
            if lo == hi:
                lo, hi = lo - 0.5, hi + 0.5
            counts = torch.histc(t.float(), bins=HIST_BINS, min=lo, max=hi)
            edges = torch.linspace(lo, hi, HIST_BINS + 1)
            out.append({"layer": i, "kind": kind, "counts": [int(c) for c in counts.tolist()],
                        "edges": edges.tolist()})
    return out
