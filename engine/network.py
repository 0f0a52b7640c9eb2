"""Turn a NetworkSpec into tensors: parameters (W_l, b_l), the input batch x and the target y.

Everything not given explicitly is drawn from one torch.Generator seeded by spec.seed, always in
the same order (W_1, b_1, …, W_L, b_L, x, y) so that giving one tensor never changes the others.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from engine.core.ops import LOSSES
from engine.spec import NetworkSpec


@dataclass
class Materialized:
    weights: list[torch.Tensor]  # W_l, shape (n_l, n_{l-1})
    biases: list[torch.Tensor]  # b_l, shape (n_l,)
    x: torch.Tensor  # (B, n_0)
    y: torch.Tensor  # (B, n_L) values, or (B,) int64 class indices


def torch_dtype(name: str) -> torch.dtype:
    return {"float32": torch.float32, "float64": torch.float64}[name]


def init_weight(init: str, fan_out: int, fan_in: int, gen: torch.Generator, dtype) -> torch.Tensor:
    """One weight matrix (fan_out, fan_in) by the named scheme."""
    if init == "kaiming":  # He et al. 2015: Var = 2 / fan_in keeps ReLU activations' scale
        return torch.randn(fan_out, fan_in, generator=gen, dtype=dtype) * math.sqrt(2.0 / fan_in)
    if init == "xavier":  # Glorot & Bengio 2010: U(±√(6/(fan_in+fan_out)))
        bound = math.sqrt(6.0 / (fan_in + fan_out))
        return (torch.rand(fan_out, fan_in, generator=gen, dtype=dtype) * 2 - 1) * bound
    if init == "normal":  # N(0, 1) as in the from-scratch tutorials: too large for deep nets
        return torch.randn(fan_out, fan_in, generator=gen, dtype=dtype)
    if init == "torch":  # nn.Linear's default (kaiming_uniform with a = √5): U(±1/√fan_in)
        return (torch.rand(fan_out, fan_in, generator=gen, dtype=dtype) * 2 - 1) / math.sqrt(fan_in)
    return torch.zeros(fan_out, fan_in, dtype=dtype)


def init_bias(init: str, n: int, gen: torch.Generator, dtype, fan_in: int = 1) -> torch.Tensor:
    """Zero biases, except the tutorials' `normal` scheme (N(0, 1)) and nn.Linear's (U(±1/√fan_in))."""
    if init == "normal":
        return torch.randn(n, generator=gen, dtype=dtype)
    if init == "torch":
        return (torch.rand(n, generator=gen, dtype=dtype) * 2 - 1) / math.sqrt(fan_in)
    return torch.zeros(n, dtype=dtype)


def draw_target(spec: NetworkSpec, rows: int, gen: torch.Generator, dtype) -> torch.Tensor:
    k = spec.output_size
    if LOSSES[spec.loss].class_targets:
        return torch.randint(0, k, (rows,), generator=gen)
    if spec.loss == "bce":
        return torch.randint(0, 2, (rows, k), generator=gen).to(dtype)
    return torch.randn(rows, k, generator=gen, dtype=dtype)


def materialize(spec: NetworkSpec) -> Materialized:
    """Parameters and data for a valid spec, explicit values taking precedence over seeded draws."""
    spec.check()
    dtype = torch_dtype(spec.dtype)
    gen = torch.Generator().manual_seed(spec.seed)
    sizes = spec.sizes
    weights, biases = [], []
    for i, layer in enumerate(spec.layers, start=1):
        w = init_weight(spec.init, sizes[i], sizes[i - 1], gen, dtype)
        b = init_bias(spec.init, sizes[i], gen, dtype, sizes[i - 1])
        weights.append(torch.tensor(layer.weight, dtype=dtype) if layer.weight is not None else w)
        biases.append(torch.tensor(layer.bias, dtype=dtype) if layer.bias is not None else b)
    rows = spec.n_rows
    x = torch.randn(rows, spec.input_size, generator=gen, dtype=dtype)
    y = draw_target(spec, rows, gen, dtype)
    if spec.x is not None:
        x = torch.tensor(spec.x, dtype=dtype)
    if spec.y is not None:
        y = torch.tensor(spec.y, dtype=torch.int64 if LOSSES[spec.loss].class_targets else dtype)
    return Materialized(weights, biases, x, y)


def with_parameters(spec: NetworkSpec, weights, biases, x=None, y=None) -> NetworkSpec:
    """A copy of spec with every parameter (and optionally x, y) written out explicitly."""
    d = spec.to_dict()
    for layer, w, b in zip(d["layers"], weights, biases, strict=True):
        layer["weight"] = w.tolist()
        layer["bias"] = b.tolist()
    if x is not None:
        d["x"] = x.tolist()
    if y is not None:
        d["y"] = y.tolist()
    return NetworkSpec.from_dict(d)
