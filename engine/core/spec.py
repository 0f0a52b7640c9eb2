"""What a network is made of, as data: one LayerSpec per layer, the limits every network obeys, SpecError.

Shared by the Inspector's NetworkSpec (engine.inspector.spec) and training's config (engine.train.config), so
both read one definition of a layer and one set of limits.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

DTYPES = ("float32", "float64")

MAX_LAYERS = 12
MAX_UNITS = 4096  # per layer, input size included
MAX_BATCH = 4096  # rows of x for inspection
MAX_PARAMETERS = 2_000_000  # 12 layers of 4096 units would be 200M parameters: refuse before allocating


MAX_INT_DIGITS = 30  # longer integers are a typo or an attack (Python refuses > 4300 digits with a hint)


def parse_int(digits: str) -> int:
    """json's int hook: refuse absurdly long numbers before converting them."""
    if len(digits.lstrip("-")) > MAX_INT_DIGITS:
        raise SpecError([f"number too long ({len(digits.lstrip('-'))} digits) in the spec; "
                         f"use at most {MAX_INT_DIGITS} digits"])
    return int(digits)


class SpecError(ValueError):
    """A spec a user wrote is invalid; the message lists every problem and how to fix it."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass
class LayerSpec:
    units: int  # output width of this layer
    activation: str = "relu"  # one of core.ops.ACTIVATIONS
    weight: list | None = None  # explicit W, shape (units, fan_in); drawn from the seed when None
    bias: list | None = None  # explicit b, shape (units,)
    type: str = "linear"  # the layer's kind, a key of engine.core.layers.KINDS


def parse_layers(text: str) -> list[LayerSpec]:
    """'4:relu,2:identity' → [LayerSpec(4, 'relu'), LayerSpec(2, 'identity')]."""
    layers = []
    for i, part in enumerate(p.strip() for p in text.split(",")):
        units, _, act = part.partition(":")
        try:
            n = int(units)
        except ValueError:
            raise SpecError([f"layer {i + 1}: '{part}' is not UNITS:ACTIVATION, e.g. 4:relu"]) from None
        layers.append(LayerSpec(n, act or "relu"))
    return layers


def is_finite_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
