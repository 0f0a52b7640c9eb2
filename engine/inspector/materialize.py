"""Turn a NetworkSpec into tensors: parameters (W_l, b_l), the input batch x and the target y.

Everything not given explicitly is drawn from one torch.Generator seeded by spec.seed, always in
the same order (W_1, b_1, …, W_L, b_L, x, y) so that giving one tensor never changes the others.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.core.layers import Layer
from engine.core.ops import LOSSES
from engine.inspector.spec import NetworkSpec


@dataclass
class Materialized:
    layers: list[Layer]  # the spec's layers through the layer protocol
    params: list[dict[str, torch.Tensor]]  # per layer, by torch's names: W_l "weight" (n_l, n_{l-1}), b_l "bias"
    x: torch.Tensor  # (B, n_0)
    y: torch.Tensor  # (B, n_L) values, or (B,) int64 class indices

    @property
    def weights(self) -> list[torch.Tensor]:
        return [p["weight"] for p in self.params]

    @property
    def biases(self) -> list[torch.Tensor]:
        return [p["bias"] for p in self.params]


def torch_dtype(name: str) -> torch.dtype:
    return {"float32": torch.float32, "float64": torch.float64}[name]


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
    layers = spec.build_layers()
    params = []
    for layer, layer_spec in zip(layers, spec.layers, strict=True):
        drawn = layer.init_params(spec.init, gen, dtype)  # always drawn, so giving one never shifts the rest
        explicit = {"weight": layer_spec.weight, "bias": layer_spec.bias}
        params.append({name: torch.tensor(explicit[name], dtype=dtype) if explicit.get(name) is not None else t
                       for name, t in drawn.items()})
    rows = spec.n_rows
    x = torch.randn(rows, spec.input_size, generator=gen, dtype=dtype)
    y = draw_target(spec, rows, gen, dtype)
    if spec.x is not None:
        x = torch.tensor(spec.x, dtype=dtype)
    if spec.y is not None:
        y = torch.tensor(spec.y, dtype=torch.int64 if LOSSES[spec.loss].class_targets else dtype)
    return Materialized(layers, params, x, y)


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
