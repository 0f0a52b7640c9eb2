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

import torch

VANISHING = 1e-6
EXPLODING = 1e3
UPDATE_TOO_LARGE = 1e-1
DEAD_TOO_MANY = 0.5  # flag a layer when more than half its ReLUs are dead
HIST_BINS = 30


def pre_step_stats(model, zs: list[torch.Tensor], outputs: list[torch.Tensor]) -> tuple[torch.Tensor, list]:
    """Stats that need the gradients and activations of this step; (L, 6) device tensor + weight copies.

    Per layer (through the layer protocol): the kind's health_param (a linear layer's W) gives the gradient
    and weight norms; its activation's rules from engine.core.ops give the dead and saturated fractions."""
    rows, before = [], []
    for module, z, a in zip(model.linears, zs, outputs, strict=True):
        kind = module.kind
        w, g = _followed(module, z)
        grad_norm = torch.linalg.vector_norm(g) if g is not None else torch.zeros((), device=w.device)
        rows.append(torch.stack([grad_norm, torch.linalg.vector_norm(w), kind.activation.dead_fraction(z).to(w.dtype),
                                 kind.activation.saturated_fraction(a).to(w.dtype), a.mean(), a.std(unbiased=False)]))
        before.append(w.clone())
    return torch.stack(rows), before


def layer_stats(model, pre: torch.Tensor, before: list[torch.Tensor], step: int, epoch: int) -> list[dict]:
    """Rows for the store, one per layer (one host sync for all layers)."""
    followed = [_followed(m, w0)[0] for m, w0 in zip(model.linears, before, strict=True)]
    ratios = torch.stack([torch.linalg.vector_norm(w - w0) / (torch.linalg.vector_norm(w0) + 1e-12)
                          for w, w0 in zip(followed, before, strict=True)])
    table = torch.cat([pre, ratios[:, None]], dim=1).tolist()
    rows = []
    for i, (gn, wn, dead, sat, mean, std, ratio) in enumerate(table, start=1):
        rows.append({"step": step, "epoch": epoch, "layer": i, "grad_norm": gn, "weight_norm": wn,
                     "update_ratio": ratio, "dead_fraction": dead, "saturated_fraction": sat,
                     "act_mean": mean, "act_std": std})
    return rows


def _followed(module, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(the followed parameter, its gradient); a kind with none (dropout, a residual block) gives an empty
    tensor: norms 0, ratio 0, and no gradient flags."""
    if module.kind.health_param is None:
        return like.new_zeros(0), None
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
