"""The exported code of each layer kind, one module per kind of engine.core.layers (the same "type" names).

A kind's module provides:
- `PARAMS`: its parameters by torch's name → the letter the program uses ({"weight": "W", "bias": "b"});
- `forward(v, walk) -> list[str]`: lines computing v.z (B, units) from v.x (B, fan_in);
- `backward(v, walk) -> list[str]`: from v.delta = ∂L/∂z, lines computing each parameter's gradient
  (v.grad(name)) and v.dx = ∂L/∂x; `walk` writes inner layers (a residual block's);
- optionally `inner_vars(v, walk)`: the names of a block's inner layers (their gradients are reported too).
"""
from __future__ import annotations

from types import ModuleType

from engine.export.kinds import batchnorm, dropout, layernorm, linear, residual

KIND_CODE: dict[str, ModuleType] = {"linear": linear, "batchnorm": batchnorm, "layernorm": layernorm,
                                    "dropout": dropout, "residual": residual}
