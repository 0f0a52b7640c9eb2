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
    units: int | None = None  # output width of a linear layer; the other kinds keep their input's width
    activation: str | None = None  # one of core.ops.ACTIVATIONS; None: relu (linear), identity (other kinds)
    weight: list | None = None  # explicit W (units, fan_in), or γ (n,) of a norm layer; drawn/default when None
    bias: list | None = None  # explicit b (units,), or β (n,) of a norm layer
    type: str = "linear"  # the layer's kind, a key of engine.core.layers.KINDS
    eps: float | None = None  # batchnorm/layernorm: added to the variance (default 1e-5, as torch)
    p: float | None = None  # dropout: probability of dropping a unit, in [0, 1)
    mask: list | None = None  # dropout: explicit 0/1 mask (batch, n); drawn from the seed when None
    layers: list[LayerSpec] | None = None  # residual: the inner layers, ending at the block's input width

    def __post_init__(self):
        if self.activation is None:  # a linear layer's default was relu before kinds; the others' is identity
            self.activation = "relu" if self.type in ("linear", None) else "identity"

    @classmethod
    def from_dict(cls, item: dict) -> LayerSpec:
        inner = item.get("layers")
        if isinstance(inner, list) and all(isinstance(i, dict) for i in inner):
            item = {**item, "layers": [cls.from_dict(i) for i in inner]}
        return cls(**item)

    def width(self, fan_in: int) -> int | None:
        """Output width: units for a linear layer, else the input's width."""
        return self.units if self.type in ("linear", None) else fan_in

    def flat(self) -> list[LayerSpec]:
        """This layer then its inner layers, in run order."""
        return [self] + [i for child in (self.layers or []) if isinstance(child, LayerSpec) for i in child.flat()]


LAYER_SYNTAX = ("UNITS:ACTIVATION (linear), bn or bn:ACTIVATION (batchnorm), ln (layernorm), dropP e.g. drop0.2, "
                "res[…]:ACTIVATION (a residual block around the layers inside the brackets)")


def _split_top(text: str) -> list[str]:
    """'4:relu,res[4:relu,4:identity],2' → ['4:relu', 'res[4:relu,4:identity]', '2'] (commas outside [])."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += {"[": 1, "]": -1}.get(ch, 0)
        if depth < 0:
            raise SpecError([f"unbalanced ']' in layers '{text}'"])
        if ch == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    if depth:
        raise SpecError([f"unbalanced '[' in layers '{text}'"])
    return parts + [text[start:].strip()]


def _parse_one(part: str, where: str) -> LayerSpec:
    if part.startswith("res[") and "]" in part:
        close = part.rindex("]")
        inner, _, act = part[close + 1:].partition(":")
        if inner:
            raise SpecError([f"{where}: '{part}' should be res[…] or res[…]:ACTIVATION"])
        return LayerSpec(type="residual", activation=act or None, layers=parse_layers(part[4:close]))
    head, _, act = part.partition(":")
    act = act or None
    if head in ("bn", "ln"):
        return LayerSpec(type={"bn": "batchnorm", "ln": "layernorm"}[head], activation=act)
    if head.startswith("drop"):
        try:
            return LayerSpec(type="dropout", p=float(head[4:]), activation=act)
        except ValueError:
            raise SpecError([f"{where}: '{part}' is not dropP, e.g. drop0.2"]) from None
    try:
        return LayerSpec(int(head), act or "relu")
    except ValueError:
        raise SpecError([f"{where}: '{part}' is not UNITS:ACTIVATION (e.g. 4:relu), bn, ln, dropP or "
                          "res[…]:ACTIVATION"]) from None


def parse_layers(text: str) -> list[LayerSpec]:
    """'4:relu,bn,drop0.2,res[4:relu,4:identity]:relu,2:identity' → LayerSpecs (see LAYER_SYNTAX)."""
    return [_parse_one(part, f"layer {i}") for i, part in enumerate(_split_top(text), start=1)]


MAX_ALL_LAYERS = 32  # every layer, inner ones and norm/dropout layers included


def int_in(value, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def walk_layers(layers: list, fan_in: int, start: int = 1, inside: bool = False):
    """(index, layer spec, fan-in, width, inside a block) for every layer in run order; stops at a layer whose
    width is unknown (a linear layer without units)."""
    index = start
    for layer in layers:
        width = layer.width(fan_in) if isinstance(layer, LayerSpec) else None
        yield index, layer, fan_in, width, inside
        if isinstance(layer, LayerSpec) and isinstance(layer.layers, list) and layer.type == "residual":
            inner = list(walk_layers(layer.layers, fan_in, index + 1, True))
            yield from inner
            index += len(inner)
        index += 1
        if not int_in(width, 1, MAX_UNITS):
            return
        fan_in = width


def residual_width_problem(i: int, layer: LayerSpec, fan_in: int) -> str | None:
    """The inner layers must end at the block's input width (x + f(x) needs equal shapes)."""
    out = fan_in
    for child in layer.layers:
        out = child.width(out)
        if not int_in(out, 1, MAX_UNITS):
            return None
    if out != fan_in:
        return (f"layer {i}: the residual block's inner layers end at width {out} but its input has width "
                f"{fan_in}; make the last inner layer {fan_in} units")
    return None


def block_width_problems(layers: list[LayerSpec], input_size: int) -> list[str]:
    """Every residual block whose inner layers do not end at its input width (training checks this once it
    knows the data's width)."""
    return [p for i, layer, fan_in, _, _ in walk_layers(layers, input_size)
            if layer.type == "residual" and layer.layers
            for p in [residual_width_problem(i, layer, fan_in)] if p]


def is_finite_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
