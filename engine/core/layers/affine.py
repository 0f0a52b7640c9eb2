"""What BatchNorm and LayerNorm share: the input's width kept, ε, and the per-feature γ (weight) and β (bias) of
z = γ ⊙ x̂ + β, each (n,), starting at 1 and 0 as torch's do. Each kind keeps its own statistics and backward."""
from __future__ import annotations

import torch

from engine.core.layers.base import Layer, Params


class NormLayer(Layer):
    def __init__(self, index: int, fan_in: int, units: int | None = None, activation: str = "identity",
                 eps: float = 1e-5):
        super().__init__(index, fan_in, fan_in, activation)
        self.eps = eps

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"weight": (self.units,), "bias": (self.units,)}

    def init_params(self, init: str, gen: torch.Generator, dtype: torch.dtype) -> Params:
        return {"weight": torch.ones(self.units, dtype=dtype), "bias": torch.zeros(self.units, dtype=dtype)}
