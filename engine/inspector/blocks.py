"""Wrap consecutive top-level layers of a network in a residual block, or unwrap a block back into its layers
(the Inspector's builder). Both keep every layer's fixed numbers (W, b, γ, β, a dropout mask).

A block computes z = x + f(x), so its inner layers f must end at the width they start from: wrapping layers
first…last is refused with one message when the width after `last` differs from the width before `first`.
"""
from __future__ import annotations

import dataclasses

from engine.core.spec import LayerSpec, SpecError
from engine.inspector.spec import NetworkSpec


def _top_widths(spec: NetworkSpec) -> list[int]:
    """[n_0, width after top-level layer 1, …, after layer L]."""
    widths = [spec.input_size]
    for layer in spec.layers:
        widths.append(layer.width(widths[-1]))
    return widths


def wrap_in_block(spec: NetworkSpec, first: int, last: int, activation: str = "identity") -> NetworkSpec:
    """Top-level layers first…last (from 1, inclusive) become the inner layers of one residual block."""
    n = len(spec.layers)
    if not 1 <= first <= last <= n:
        raise SpecError([f"pick layers first ≤ last within 1–{n} (got {first}–{last})"])
    widths = _top_widths(spec)
    if widths[last] != widths[first - 1]:
        span = f"layer {first}" if first == last else f"layers {first}–{last}"
        raise SpecError([f"cannot wrap {span} in a residual block: they map width {widths[first - 1]} to width "
                         f"{widths[last]}, and x + f(x) needs f to end at its input's width — end the group at a "
                         f"layer of {widths[first - 1]} units"])
    inner = [dataclasses.replace(layer) for layer in spec.layers[first - 1:last]]
    block = LayerSpec(type="residual", activation=activation, layers=inner)
    layers = spec.layers[:first - 1] + [block] + spec.layers[last:]
    return _rebuilt(spec, layers)


def unwrap_block(spec: NetworkSpec, position: int) -> NetworkSpec:
    """The residual block at top-level position `position` (from 1) replaced by its inner layers (the skip and
    the block's own activation go)."""
    if not 1 <= position <= len(spec.layers) or spec.layers[position - 1].type != "residual":
        raise SpecError([f"layer {position} is not a residual block"])
    layers = spec.layers[:position - 1] + list(spec.layers[position - 1].layers or []) + spec.layers[position:]
    return _rebuilt(spec, layers)


def _rebuilt(spec: NetworkSpec, layers: list[LayerSpec]) -> NetworkSpec:
    """spec with these top-level layers, through its JSON so that from_dict checks it like any other input."""
    return NetworkSpec.from_dict(dataclasses.replace(spec, layers=layers).to_dict())
