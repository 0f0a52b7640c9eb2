"""The loss landscape of a stored run's network: a plane through parameter space (endpoints, PCA or
filter-normalised random directions), the full-training-set loss over a grid on it, evaluated in batches,
and each run's path (its weights every k steps, by replay) projected onto it.

Modules: `trajectory.py` (replayed weight paths, the runs' compatibility), `planes.py` (the three planes and
projection), `batched.py` (the loss at many parameter points at once), `compute.py` (budget, cache, slices,
the result the CLI prints and the page draws).
"""
from __future__ import annotations

import math


class LandscapeError(ValueError):
    """A landscape that cannot be computed as asked; the message says why and what to do."""


def finite(values) -> list[float | None]:
    """Plain floats for JSON; inf / NaN (a loss that overflowed far from the paths) become None."""
    return [float(v) if math.isfinite(v) else None for v in values]
