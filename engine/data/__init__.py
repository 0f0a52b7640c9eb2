"""Datasets as tensors: synthetic regression and 2-D sets, a user's CSV, MNIST (engine.data.load picks one).

This package root holds what every loader shares: the Dataset a loader returns and the DataError it raises.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch


class DataError(ValueError):
    """A problem the user can fix; the message says what was wrong and what to do."""


@dataclass
class Dataset:
    name: str  # one of engine.data.load.DATASETS
    task: str  # "regression" | "classification"
    x_train: torch.Tensor  # (n, d) float32
    y_train: torch.Tensor  # classification: (n,) int64 class indices; regression: (n, k) float32
    x_val: torch.Tensor  # (n_val, d), may have 0 rows
    y_val: torch.Tensor
    x_test: torch.Tensor | None = None  # MNIST: the official 10 000 test images; else None
    y_test: torch.Tensor | None = None
    n_classes: int | None = None  # classification only
    meta: dict = field(default_factory=dict)  # true_w/true_b, feature/target names + mean/std, source

    @property
    def input_size(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def output_size(self) -> int:
        return int(self.n_classes) if self.task == "classification" else int(self.y_train.shape[1])
