"""Turn a NetworkSpec into tensors: parameters (W_l, b_l), the input batch x and the target y.

Everything not given explicitly is drawn from one torch.Generator seeded by spec.seed, always in
the same order (W_1, b_1, …, W_L, b_L, x, y) so that giving one tensor never changes the others.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from engine.core.layers import Context, Dropout, Layer, flat
from engine.core.ops import LOSSES
from engine.inspector.spec import NetworkSpec


@dataclass
class Materialized:
    layers: list[Layer]  # the spec's layers through the layer protocol
    params: list[dict[str, torch.Tensor]]  # per layer, by torch's names: W_l "weight" (n_l, n_{l-1}), b_l "bias"
    x: torch.Tensor  # (B, n_0)
    y: torch.Tensor  # (B, n_L) values, or (B,) int64 class indices
    state: dict = field(default_factory=dict)  # per layer index: BatchNorm's running statistics, a dropout mask

    def context(self) -> Context:
        """A training-mode pass over this state (masks fixed; running statistics left as they are)."""
        return Context(training=True, state=self.state)

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
        params.append({name: torch.tensor(given, dtype=dtype) if (given := _explicit(layer_spec, name)) is not None
                       else t for name, t in drawn.items()})
    rows = spec.n_rows
    x = torch.randn(rows, spec.input_size, generator=gen, dtype=dtype)
    y = draw_target(spec, rows, gen, dtype)
    if spec.x is not None:
        x = torch.tensor(spec.x, dtype=dtype)
    if spec.y is not None:
        y = torch.tensor(spec.y, dtype=torch.int64 if LOSSES[spec.loss].class_targets else dtype)
    return Materialized(layers, params, x, y, _state(layers, spec, rows, gen, dtype))


def _explicit(layer_spec, name: str):
    """The value a spec gives for parameter `name` ("weight", or an inner layer's "1.0.bias"), or None."""
    head, _, rest = name.partition(".")
    if rest:
        return _explicit(layer_spec.layers[int(head)], rest)
    return getattr(layer_spec, name, None)


def _state(layers: list[Layer], spec: NetworkSpec, rows: int, gen: torch.Generator, dtype) -> dict:
    """Running statistics at their start (mean 0, var 1) and every dropout mask: the spec's, or drawn in run
    order after x and y (so a net without dropout draws exactly what it drew before masks existed)."""
    state = {}
    specs = [s for top in spec.layers for s in top.flat()]
    for layer, layer_spec in zip(flat(layers), specs, strict=True):
        state.update(layer.initial_state(dtype))
        if isinstance(layer, Dropout):
            drawn = layer.draw_mask(rows, gen, dtype)
            state[layer.index] = {"mask": torch.tensor(layer_spec.mask, dtype=dtype)
                                  if layer_spec.mask is not None else drawn}
    return state


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
