"""The layer kinds, by the spec's "type" (a layer without one is "linear").

Adding a kind: one module here implementing engine.core.layers.base.Layer, plus one entry in KINDS.
"""
from __future__ import annotations

from engine.core.layers.base import Context, DenseProbes, Layer, ShiftProbes, manual_function
from engine.core.layers.linear import INITS, Linear

KINDS: dict[str, type[Layer]] = {"linear": Linear}


def build_layers(sizes: list[int], activations: list[str], types: list[str] | None = None) -> list[Layer]:
    """Layer l = 1…L from fan-in sizes[l-1] to sizes[l], carrying activations[l-1]."""
    types = types or ["linear"] * len(activations)
    return [KINDS[t](l, sizes[l - 1], sizes[l], act)
            for l, (t, act) in enumerate(zip(types, activations, strict=True), start=1)]


def n_parameters(sizes: list[int], types: list[str] | None = None) -> int:
    """Every parameter of the network with these widths [n_0, …, n_L] (all layers' kinds together)."""
    return sum(layer.n_parameters() for layer in build_layers(sizes, ["identity"] * (len(sizes) - 1), types))


__all__ = ["Context", "DenseProbes", "INITS", "KINDS", "Layer", "Linear", "ShiftProbes", "build_layers",
           "manual_function", "n_parameters"]
