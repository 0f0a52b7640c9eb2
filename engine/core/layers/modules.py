"""Layers of the protocol as torch modules, for training: LayerModule (any kind) and ManualLinear.

With manual_backward the module's gradient comes from the kind's hand-written backward (one
autograd.Function per kind, engine.core.layers.manual_function); otherwise from autograd through the
kind's torch_forward (nn.functional), exactly what nn.Linear does.
"""
from __future__ import annotations

import math
from functools import cache

import torch
from torch import nn

from engine.core.layers import Context, Layer, Linear, manual_function

function_for = cache(manual_function)  # one autograd.Function class per kind


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """z = x Wᵀ + b through the linear kind's hand-written backward; x (B, in), weight (out, in)."""
    kind = Linear(1, weight.shape[1], weight.shape[0], bias=bias is not None)
    return function_for(Linear).apply(kind, None, x, weight, *([bias] if bias is not None else []))


class LayerModule(nn.Module):
    """One layer of the protocol as an nn.Module: its parameters under the kind's torch names (a residual
    block's "0.weight" is registered as "0_weight": module attributes cannot hold dots), and the running
    statistics it keeps as buffers ("running_mean_3": layer 3's), moved by training and used by eval()."""

    def __init__(self, kind: Layer, manual_backward: bool = False, device=None, dtype=None):
        super().__init__()
        self.kind = kind
        self._names = {name: name.replace(".", "_") for name in kind.param_shapes()}  # kind's name → attribute
        for name, shape in kind.param_shapes().items():
            self.register_parameter(self._names[name], nn.Parameter(torch.empty(shape, device=device, dtype=dtype)))
        self._buffers_of = {}  # layer index → {buffer name: attribute}
        for index, buffers in kind.initial_state(dtype or torch.get_default_dtype()).items():
            for name, value in buffers.items():
                self.register_buffer(f"{name}_{index}", value.to(device))
                self._buffers_of.setdefault(index, {})[name] = f"{name}_{index}"
        self._function = function_for(type(kind)) if manual_backward else None
        self.generator: torch.Generator | None = None  # dropout masks; seeded by the trainer (None: torch's global)

    @property
    def in_features(self) -> int:
        return self.kind.fan_in

    @property
    def out_features(self) -> int:
        return self.kind.units

    def params(self) -> dict[str, torch.Tensor]:
        return {name: getattr(self, attr) for name, attr in self._names.items()}

    def context(self) -> Context:
        """Training (batch statistics, moving the running ones; fresh dropout masks) or evaluation mode."""
        state = {i: {name: getattr(self, attr) for name, attr in b.items()} for i, b in self._buffers_of.items()}
        return Context(training=self.training, generator=self.generator, state=state, update_stats=self.training)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """z (B, units) from x (B, fan_in); the activation is applied by the caller."""
        if self._function is not None:
            return self._function.apply(self.kind, self.context(), x, *self.params().values())
        return self.kind.torch_forward(self.params(), x, self.context())


class ManualLinear(LayerModule):
    """Drop-in for nn.Linear(in_features, out_features, bias): same parameters, same init, hand-written backward."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None, dtype=None):
        super().__init__(Linear(1, in_features, out_features, bias=bias), True, device, dtype)
        if not bias:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # nn.Linear's default: U(±1/√in) for both W (kaiming_uniform with a=√5) and b
        bound = 1.0 / math.sqrt(self.in_features) if self.in_features else 0.0
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:
            return super().forward(x)
        lead = x.shape[:-1]  # flatten leading dims to rows, as nn.Linear accepts (*, in)
        return super().forward(x.reshape(-1, self.in_features)).reshape(*lead, self.out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
