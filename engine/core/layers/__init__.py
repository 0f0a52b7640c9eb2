"""The layer kinds, by the spec's "type" (a layer without one is "linear").

Adding a kind: one module here implementing engine.core.layers.base.Layer, plus one entry in KINDS.
"""
from __future__ import annotations

from engine.core.layers.base import Context, DenseProbes, Layer, ShiftProbes, manual_function
from engine.core.layers.batchnorm import BatchNorm
from engine.core.layers.dropout import Dropout
from engine.core.layers.layernorm import LayerNorm
from engine.core.layers.linear import INITS, Linear
from engine.core.layers.residual import Residual

KINDS: dict[str, type[Layer]] = {"linear": Linear, "batchnorm": BatchNorm, "layernorm": LayerNorm,
                                 "dropout": Dropout, "residual": Residual}
OPTIONS = {"batchnorm": ("eps",), "layernorm": ("eps",), "dropout": ("p",)}  # spec keys a kind takes


def build_layers(sizes: list[int], activations: list[str], types: list[str] | None = None) -> list[Layer]:
    """Layer l = 1…L from fan-in sizes[l-1] to sizes[l], carrying activations[l-1] (no blocks)."""
    types = types or ["linear"] * len(activations)
    return [KINDS[t](l, sizes[l - 1], sizes[l], act)
            for l, (t, act) in enumerate(zip(types, activations, strict=True), start=1)]


def build(entries: list, fan_in: int, start: int = 1) -> list[Layer]:
    """Layers from entries with attributes type, units, activation, the kind's OPTIONS and (a residual block)
    layers; numbered in run order from `start`, inner layers right after their block. Width-keeping kinds
    (all but linear) take their fan-in as width."""
    out, index = [], start
    for e in entries:
        kind = getattr(e, "type", None) or "linear"
        options = {k: getattr(e, k) for k in OPTIONS.get(kind, ()) if getattr(e, k, None) is not None}
        if kind == "residual":
            children = build(e.layers or [], fan_in, index + 1)
            layer = Residual(index, fan_in, fan_in, e.activation, children=children)
        else:
            layer = KINDS[kind](index, fan_in, e.units if kind == "linear" else fan_in, e.activation, **options)
        out.append(layer)
        index += len(layer.flat())
        fan_in = layer.units
    return out


def flat(layers: list[Layer]) -> list[Layer]:
    """Every layer in run order, inner layers included."""
    return [inner for layer in layers for inner in layer.flat()]


def n_parameters(sizes: list[int], types: list[str] | None = None) -> int:
    """Every parameter of the network with these widths [n_0, …, n_L] (all layers' kinds together)."""
    return sum(layer.n_parameters() for layer in build_layers(sizes, ["identity"] * (len(sizes) - 1), types))


__all__ = ["BatchNorm", "Context", "DenseProbes", "Dropout", "INITS", "KINDS", "Layer", "LayerNorm", "Linear",
           "OPTIONS", "Residual", "ShiftProbes", "build", "build_layers", "flat", "manual_function", "n_parameters"]
