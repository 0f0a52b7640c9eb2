"""Timing: a warm-up, then the median of repeats, with (max − min)/median as the noise figure.

Several callables are timed interleaved (A B, B A, A B …) so that drift on a shared machine — another
process taking a core for a few seconds — lands on all of them alike instead of on whichever ran last.
"""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

import torch


@dataclass
class Timing:
    samples: list[float]  # seconds, one per repeat

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def spread(self) -> float:
        """(max − min) / median: 0.05 means the repeats fell within ±2.5 % or so."""
        return (max(self.samples) - min(self.samples)) / self.median if self.median else 0.0

    def summary(self) -> dict:
        return {"median": self.median, "min": min(self.samples), "max": max(self.samples),
                "spread": self.spread, "samples": self.samples}


def sync(device: str | torch.device = "cpu") -> None:
    """Wait for queued GPU work, so a timer measures it (no-op on the CPU)."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def interleaved(fns: dict[str, Callable[[], object]], repeats: int, warmup: int = 1,
                device: str = "cpu") -> dict[str, Timing]:
    """Time each callable `repeats` times after `warmup` untimed calls; alternate the order every round."""
    names = list(fns)
    for _ in range(warmup):
        for name in names:
            fns[name]()
    sync(device)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for i in range(repeats):
        for name in names if i % 2 == 0 else reversed(names):
            sync(device)
            start = time.perf_counter()
            fns[name]()
            sync(device)
            samples[name].append(time.perf_counter() - start)
    return {name: Timing(s) for name, s in samples.items()}


def measure(fn: Callable[[], object], repeats: int, warmup: int = 1, device: str = "cpu") -> Timing:
    return interleaved({"fn": fn}, repeats, warmup, device)["fn"]


@contextmanager
def num_threads(n: int | None):
    """torch intra-op threads set to n inside the block (None: leave as is)."""
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def noise(*timings: Timing) -> str:
    return " / ".join(f"{t.spread:.0%}" for t in timings)
