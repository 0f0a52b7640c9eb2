"""Benchmarks: our code against a plain PyTorch baseline in the same process, as ratios (`python -m bench`)."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Result:
    """One row of the table. ratio = ours / baseline (lower is faster for times)."""

    row: str  # id, e.g. "1" or "4b"; --only matches it or its group ("4")
    name: str
    ours: float | None = None
    baseline: float | None = None
    unit: str = "s"  # "s", "ms" or "%"
    target: str = ""
    met: bool | None = None  # None: no target, or unmeasured
    noise: str = ""  # (max − min) / median of the repeats, ours / baseline
    note: str = ""
    details: dict = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.ours is None or not self.baseline:
            return None
        return self.ours / self.baseline


@dataclass
class Context:
    """What every row group gets: the command-line settings and data loaded once."""

    quick: bool = False  # tiny sizes, one or two repeats: a smoke run, not a measurement
    repeats: int = 5
    tmp: str = ""  # a scratch directory (run stores live here)
    cache: dict = field(default_factory=dict)

    def mnist(self):
        """Real MNIST as the row-1 config takes it (train 60 000 / test 10 000), loaded once."""
        if "mnist" not in self.cache:
            from bench.rows_mnist import row1_config
            from engine.train.loop import load_data

            self.cache["mnist"] = load_data(row1_config())
        return self.cache["mnist"]
