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
