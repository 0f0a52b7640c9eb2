"""NetworkSpec: a small fully connected network, its loss, init, seed, dtype and (optionally) its data.

Validation collects one clear message per problem; hard limits keep a typo from freezing a server.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field

from engine.core.layers import INITS, Layer, build_layers, n_parameters
from engine.core.ops import ACTIVATIONS, LOSSES

DTYPES = ("float32", "float64")

MAX_LAYERS = 12
MAX_UNITS = 4096  # per layer, input size included
MAX_BATCH = 4096  # rows of x for inspection
MAX_PARAMETERS = 2_000_000  # 12 layers of 4096 units would be 200M parameters: refuse before allocating


MAX_INT_DIGITS = 30  # longer integers are a typo or an attack (Python refuses > 4300 digits with a hint)


def _parse_int(digits: str) -> int:
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


@dataclass
class NetworkSpec:
    input_size: int  # width of x
    layers: list[LayerSpec]  # layer 1 … L
    loss: str = "mse"  # one of core.ops.LOSSES
    init: str = "kaiming"  # kaiming = N(0, 2/fan_in); xavier = U(±√(6/(fan_in+fan_out))); normal = N(0, 1);
    # torch = nn.Linear's default U(±1/√fan_in) for W and b
    seed: int = 0  # draws every parameter, x and y that is not given explicitly
    dtype: str = "float64"
    batch: int = 4  # rows of x drawn when x is not given
    x: list | None = None  # explicit input batch (batch, input_size)
    y: list | None = None  # explicit target: (batch, out) values, or (batch,) class indices for cross_entropy
    name: str = field(default="", compare=False)  # preset name, for display only

    # ---- JSON round trip ----
    def to_dict(self) -> dict:
        d = asdict(self)
        # a linear layer is written without "type", exactly as before kinds existed
        d["layers"] = [{k: v for k, v in layer.items() if v is not None and not (k == "type" and v == "linear")}
                       for layer in d["layers"]]
        return {k: v for k, v in d.items() if v is not None and not (k == "name" and not v)}

    def to_json(self, **kw) -> str:
        return json.dumps(self.to_dict(), **kw)

    @classmethod
    def from_dict(cls, d: dict) -> NetworkSpec:
        if not isinstance(d, dict):
            raise SpecError(["the spec must be a JSON object with input_size and layers"])
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(d) - known)
        if unknown:
            raise SpecError([f"unknown field(s) {', '.join(unknown)}; expected some of {', '.join(sorted(known))}"])
        if "input_size" not in d or "layers" not in d:
            raise SpecError(["the spec needs input_size and layers"])
        layers = d["layers"]
        if not isinstance(layers, list) or not all(isinstance(item, dict) for item in layers):
            raise SpecError(['layers must be a list of objects like {"units": 4, "activation": "relu"}'])
        try:
            spec = cls(**{**d, "layers": [LayerSpec(**item) for item in layers]})
        except TypeError as err:  # a layer with an unknown or missing key
            raise SpecError([f"bad layer entry: {err}; a layer takes units, activation, weight, bias, type"]) from None
        spec.check()
        return spec

    @classmethod
    def from_json(cls, text: str) -> NetworkSpec:
        try:
            data = json.loads(text, parse_int=_parse_int)
        except json.JSONDecodeError as err:
            raise SpecError([f"not valid JSON: {err}"]) from None
        except RecursionError:  # e.g. 100 000 "[": the decoder recurses once per level
            raise SpecError(["the spec JSON is nested too deeply; a spec is an object of layers"]) from None
        return cls.from_dict(data)

    # ---- shape helpers ----
    @property
    def sizes(self) -> list[int]:
        """[n_0, n_1, …, n_L]: input width then each layer's units."""
        return [self.input_size] + [layer.units for layer in self.layers]

    def build_layers(self) -> list[Layer]:
        """The network's layers through the layer protocol (kind, sizes, activation)."""
        return build_layers(self.sizes, [layer.activation for layer in self.layers],
                            [layer.type for layer in self.layers])

    @property
    def n_parameters(self) -> int:
        return n_parameters(self.sizes, [layer.type for layer in self.layers])

    @property
    def output_size(self) -> int:
        return self.layers[-1].units

    @property
    def n_rows(self) -> int:
        return len(self.x) if isinstance(self.x, list) else self.batch  # a malformed x is reported by check()

    def check(self) -> NetworkSpec:
        """Raise SpecError listing every problem; return self when valid."""
        from engine.spec_checks import problems  # the rules live beside, to keep this file about the shape

        found = problems(self)
        if found:
            raise SpecError(found)
        return self


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


__all__ = ["ACTIVATIONS", "LOSSES", "INITS", "DTYPES", "LayerSpec", "NetworkSpec", "SpecError", "parse_layers"]
