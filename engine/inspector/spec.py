"""NetworkSpec: a small fully connected network, its loss, init, seed, dtype and (optionally) its data.

Validation collects one clear message per problem; hard limits keep a typo from freezing a server.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from engine.core.layers import INITS, Layer, build
from engine.core.ops import ACTIVATIONS, LOSSES
from engine.core.spec import (
    DTYPES,
    LAYER_SYNTAX,
    MAX_BATCH,
    MAX_INT_DIGITS,
    MAX_LAYERS,
    MAX_PARAMETERS,
    MAX_UNITS,
    LayerSpec,
    SpecError,
    is_finite_number,
    parse_int,
    parse_layers,
)
from engine.inspector.checks import problems


def _clean(layer: dict) -> dict:
    """A layer as JSON: no None fields, a linear layer without "type" (exactly as before kinds existed)."""
    out = {k: v for k, v in layer.items() if v is not None and not (k == "type" and v == "linear")}
    if isinstance(out.get("layers"), list):
        out["layers"] = [_clean(i) for i in out["layers"]]
    return out


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
        d["layers"] = [_clean(layer) for layer in d["layers"]]
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
            spec = cls(**{**d, "layers": [LayerSpec.from_dict(item) for item in layers]})
        except TypeError as err:  # a layer with an unknown or missing key
            raise SpecError([f"bad layer entry: {err}; a layer takes units, activation, weight, bias, type, "
                             "eps, p, mask, layers"]) from None
        spec.check()
        return spec

    @classmethod
    def from_json(cls, text: str) -> NetworkSpec:
        try:
            data = json.loads(text, parse_int=parse_int)
        except json.JSONDecodeError as err:
            raise SpecError([f"not valid JSON: {err}"]) from None
        except RecursionError:  # e.g. 100 000 "[": the decoder recurses once per level
            raise SpecError(["the spec JSON is nested too deeply; a spec is an object of layers"]) from None
        return cls.from_dict(data)

    # ---- shape helpers ----
    @property
    def sizes(self) -> list[int]:
        """[n_0, n_1, …, n_L]: input width then each (top-level) layer's output width."""
        sizes = [self.input_size]
        for layer in self.layers:
            sizes.append(layer.width(sizes[-1]))
        return sizes

    def build_layers(self) -> list[Layer]:
        """The network's layers through the layer protocol (kind, sizes, activation; blocks hold theirs)."""
        return build(self.layers, self.input_size)

    @property
    def n_parameters(self) -> int:
        return sum(layer.n_parameters() for layer in self.build_layers())

    @property
    def n_export_numbers(self) -> int:
        """Numbers a written-out spec or program holds: every parameter (a block's inner layers' too), x and y
        (one target column per output). Dropout masks (≤ B·n each) come on top."""
        return self.n_parameters + self.n_rows * (self.input_size + self.output_size)

    @property
    def output_size(self) -> int:
        return self.sizes[-1]

    @property
    def n_rows(self) -> int:
        return len(self.x) if isinstance(self.x, list) else self.batch  # a malformed x is reported by check()

    def check(self) -> NetworkSpec:
        """Raise SpecError listing every problem; return self when valid."""
        found = problems(self)
        if found:
            raise SpecError(found)
        return self


__all__ = ["ACTIVATIONS", "LOSSES", "INITS", "DTYPES", "LAYER_SYNTAX", "MAX_BATCH", "MAX_INT_DIGITS", "MAX_LAYERS",
           "MAX_PARAMETERS", "MAX_UNITS", "LayerSpec", "NetworkSpec", "SpecError", "is_finite_number", "parse_layers"]
