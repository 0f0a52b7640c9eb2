"""A whole run's gradient health in one picture: per statistic, a layers × steps matrix of the stored stats.

Rows are layers 1..L, columns the steps at which the trainer recorded stats (every cfg.stats_every steps);
a cell the run did not record (a layer missing at a step) is NaN. The update ratio ‖ΔW_l‖/‖W_l‖ is the
one to read on a log scale around the healthy 1e-3 (UPDATE_RATIO_CENTRE).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

HEATMAP_KEYS = ("grad_norm", "update_ratio", "dead_fraction", "saturated_fraction")
UPDATE_RATIO_CENTRE = 1e-3


@dataclass
class HealthMap:
    key: str
    layers: list[int]  # row labels
    steps: list[int]  # column labels
    values: np.ndarray  # (len(layers), len(steps)) float64, NaN where nothing was recorded


def health_maps(stats: pd.DataFrame, run_id: str) -> dict[str, HealthMap]:
    """From RunStore.layer_stats([...]) (wide: run_id, step, epoch, layer, key columns): one map per key."""
    df = stats[stats["run_id"] == run_id]
    out = {}
    for key in HEATMAP_KEYS:
        if key not in df.columns or df.empty:
            out[key] = HealthMap(key, [], [], np.zeros((0, 0)))
            continue
        grid = df.pivot_table(index="layer", columns="step", values=key, aggfunc="last", dropna=False)
        grid = grid.sort_index().sort_index(axis=1)
        out[key] = HealthMap(key, [int(v) for v in grid.index], [int(v) for v in grid.columns],
                             grid.to_numpy(dtype="float64"))
    return out


def log_ratio(values: np.ndarray) -> np.ndarray:
    """log10(ratio / 1e-3): 0 at the healthy ratio, +1 ten times too large; NaN for ratio ≤ 0 or missing."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(values > 0, np.log10(values / UPDATE_RATIO_CENTRE), np.nan)


SCALE_KEYS = ("weight_max", "grad_max", "act_max")  # max|W_l|, max|∂L/∂W_l|, max|a_l| at each recorded step


def run_scales(stats: pd.DataFrame, run_id: str) -> dict[str, dict[int, float]]:
    """Per key of SCALE_KEYS, layer → the largest value over the run's recorded steps (empty: not recorded,
    a run from before these columns). One range per quantity for the whole run: same colour, same value."""
    df = stats[stats["run_id"] == run_id] if not stats.empty else stats
    out = {}
    for key in SCALE_KEYS:
        if key not in df.columns or df[key].isna().all():
            out[key] = {}
            continue
        top = df.groupby("layer")[key].max()
        out[key] = {int(layer): float(v) for layer, v in top.items() if np.isfinite(v)}
    return out
