"""The validation rules for a NetworkSpec: each returns messages that say what is wrong and what to do.

Every function takes the spec (an engine.inspector.spec.NetworkSpec); that module imports these rules, so this one
does not import it back (not even for annotations: no cycle at all)."""
from __future__ import annotations

from engine.core.layers import INITS, KINDS
from engine.core.ops import ACTIVATIONS, LOSSES, output_layer_problems
from engine.core.spec import (
    DTYPES,
    MAX_ALL_LAYERS,
    MAX_BATCH,
    MAX_LAYERS,
    MAX_PARAMETERS,
    MAX_UNITS,
    LayerSpec,
    is_finite_number,
)
from engine.core.spec import residual_width_problem as _residual_width
from engine.core.spec import walk_layers as _walk
from engine.inspector.budget import inspector_problem


def _int_in(value, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def problems(spec) -> list[str]:
    """Every problem with the spec, in reading order; [] when it is valid."""
    found = _structure(spec)
    if found:  # shapes are meaningless until the structure is right
        return found
    found += _layers(spec)
    found += _loss_vs_output(spec)
    if not found:
        found += _explicit_parameters(spec)
        found += _data(spec)
    if not found:  # the shapes are fine one by one; is their product affordable? (engine.inspector.budget)
        found += [p for p in [inspector_problem(spec.sizes, spec.n_rows, spec.dtype)] if p]
    return found


def _structure(spec) -> list[str]:
    found = []
    if not _int_in(spec.input_size, 1, MAX_UNITS):
        found.append(f"input_size must be a whole number 1–{MAX_UNITS}, got {spec.input_size!r}")
    if not isinstance(spec.layers, list) or not 1 <= len(spec.layers) <= MAX_LAYERS:
        n = len(spec.layers) if isinstance(spec.layers, list) else spec.layers
        found.append(f"the network needs 1–{MAX_LAYERS} layers, got {n}")
    if not isinstance(spec.loss, str) or spec.loss not in LOSSES:
        found.append(f"unknown loss {spec.loss!r}; use one of {', '.join(LOSSES)}")
    if spec.init not in INITS:
        found.append(f"unknown init {spec.init!r}; use one of {', '.join(INITS)}")
    if spec.dtype not in DTYPES:
        found.append(f"unknown dtype {spec.dtype!r}; use float32 or float64")
    if not _int_in(spec.seed, 0, 2**63 - 1):
        found.append(f"seed must be a whole number ≥ 0, got {spec.seed!r}")
    if spec.x is None and not _int_in(spec.batch, 1, MAX_BATCH):
        found.append(f"batch must be 1–{MAX_BATCH}, got {spec.batch!r}")
    return found


def _kind_problems(i: int, layer: LayerSpec, fan_in: int, rows: int) -> list[str]:
    """What only some kinds take, and their ranges."""
    found, kind = [], layer.type
    given = {k for k in ("eps", "p", "mask", "layers") if getattr(layer, k) is not None}
    allowed = {"batchnorm": {"eps"}, "layernorm": {"eps"}, "dropout": {"p", "mask"}, "residual": {"layers"}}
    for key in sorted(given - allowed.get(kind, set())):
        owner = {"eps": "batchnorm and layernorm", "p": "dropout", "mask": "dropout", "layers": "residual"}[key]
        found.append(f"layer {i}: {key} belongs to {owner} layers, not {kind}")
    if kind != "linear" and layer.units is not None and layer.units != fan_in:
        found.append(f"layer {i}: a {kind} layer keeps its input's width {fan_in}; leave units out")
    if kind in ("dropout", "residual") and (layer.weight is not None or layer.bias is not None):
        found.append(f"layer {i}: a {kind} layer has no weight or bias of its own")
    if kind in ("batchnorm", "layernorm") and layer.eps is not None and not (
            is_finite_number(layer.eps) and layer.eps > 0):
        found.append(f"layer {i}: eps must be a number > 0, got {layer.eps!r}")
    if kind == "layernorm" and fan_in < 2:
        found.append(f"layer {i}: layernorm over 1 feature always outputs β (x − μ = 0 in every row); "
                     "put it after a layer of ≥ 2 units")
    if kind == "batchnorm" and rows < 2:
        found.append(f"layer {i}: batchnorm needs a batch of at least 2 rows (the variance over {rows} row "
                     "is undefined); use batch ≥ 2")
    if kind == "dropout" and not (is_finite_number(layer.p if layer.p is not None else 0.5)
                                  and 0 <= (layer.p if layer.p is not None else 0.5) < 1):
        found.append(f"layer {i}: dropout p must be a number in [0, 1), got {layer.p!r}")
    if kind == "residual":
        if not isinstance(layer.layers, list) or not layer.layers or not all(
                isinstance(c, LayerSpec) for c in layer.layers):
            found.append(f'layer {i}: a residual block needs "layers": a list of its inner layers')
    return found


def _layers(spec) -> list[str]:
    found = []
    walked = list(_walk(spec.layers, spec.input_size))
    last_top = max(i for i, _, _, _, inside in walked if not inside)
    for i, layer, fan_in, _, inside in walked:
        if not isinstance(layer, LayerSpec):
            found.append(f"layer {i}: must be an object like {{\"units\": 4, \"activation\": \"relu\"}}")
            continue
        if not isinstance(layer.type, str) or layer.type not in KINDS:
            found.append(f"layer {i}: unknown type {layer.type!r}; use one of {', '.join(KINDS)}")
            continue
        if layer.type == "linear" and not _int_in(layer.units, 1, MAX_UNITS):
            found.append(f"layer {i} has {layer.units!r} units; use 1–{MAX_UNITS}")
        if not isinstance(layer.activation, str) or layer.activation not in ACTIVATIONS:
            found.append(f"layer {i}: unknown activation {layer.activation!r}; use one of {', '.join(ACTIVATIONS)}")
        elif layer.activation == "softmax" and (i != last_top or inside):
            found.append(f"layer {i}: softmax is only allowed on the output layer (layer {last_top})")
        found += _kind_problems(i, layer, fan_in, spec.n_rows)
        if layer.type == "residual" and not found:
            found += [p for p in [_residual_width(i, layer, fan_in)] if p]
    if len(walked) > MAX_ALL_LAYERS:
        found.append(f"the network has {len(walked)} layers in all; the limit is {MAX_ALL_LAYERS}")
    if not found and spec.n_parameters > MAX_PARAMETERS:
        found.append(f"the network has {spec.n_parameters:,} parameters; the limit is {MAX_PARAMETERS:,} — "
                     "use fewer or narrower layers")
    return found


def _loss_vs_output(spec) -> list[str]:
    out, width = spec.layers[-1], spec.output_size
    if not _int_in(width, 1, MAX_UNITS):
        return []  # reported by _layers
    return output_layer_problems(spec.loss, out.activation, width)


def _matrix_problem(value, rows: int, cols: int, what: str) -> str | None:
    """None if value is a rows×cols list of finite numbers, else a message."""
    if not isinstance(value, list) or len(value) != rows or not all(isinstance(r, list) for r in value):
        return f"{what} must be a list of {rows} rows of {cols} numbers (shape {rows}×{cols})"
    if any(len(r) != cols for r in value):
        return f"{what} must have {cols} numbers in every row (shape {rows}×{cols})"
    if not all(is_finite_number(v) for r in value for v in r):
        return f"{what} holds a NaN, Inf or non-number; every entry must be a finite number"
    return None


def _vector_problem(value, n: int, what: str) -> str | None:
    if not isinstance(value, list) or len(value) != n:
        return f"{what} must be a list of {n} numbers"
    if not all(is_finite_number(v) for v in value):
        return f"{what} holds a NaN, Inf or non-number; every entry must be a finite number"
    return None


def _explicit_parameters(spec) -> list[str]:
    found = []
    for i, layer, fan_in, width, _ in _walk(spec.layers, spec.input_size):
        if layer.weight is not None:
            found.append(_matrix_problem(layer.weight, width, fan_in, f"layer {i} weight") if layer.type == "linear"
                         else _vector_problem(layer.weight, width, f"layer {i} weight (γ)"))
        if layer.bias is not None:
            found.append(_vector_problem(layer.bias, width, f"layer {i} bias"))
        if layer.mask is not None:
            problem = _matrix_problem(layer.mask, spec.n_rows, width, f"layer {i} mask")
            if problem is None and not all(v in (0, 1) for r in layer.mask for v in r):
                problem = f"layer {i} mask must hold 0 (dropped) or 1 (kept)"
            found.append(problem)
    return [p for p in found if p]


def _data(spec) -> list[str]:
    found = []
    rows = spec.n_rows
    if spec.x is not None:
        if not isinstance(spec.x, list) or not 1 <= len(spec.x) <= MAX_BATCH:
            return [f"x must hold 1–{MAX_BATCH} rows"]
        found.append(_matrix_problem(spec.x, rows, spec.input_size, "x"))
    if spec.y is not None:
        found.append(_target_problem(spec, rows))
    return [p for p in found if p]


def _target_problem(spec, rows: int) -> str | None:
    k = spec.output_size
    y = spec.y
    if spec.loss == "cross_entropy":
        if not isinstance(y, list) or len(y) != rows:
            return f"y must be a list of {rows} class indices (one per row of x)"
        if not all(_int_in(v, 0, k - 1) or (is_finite_number(v) and float(v).is_integer() and 0 <= v < k)
                   for v in y):
            return f"y must hold class indices 0–{k - 1} for cross_entropy"
        return None
    problem = _matrix_problem(y, rows, k, "y")
    if problem is None and spec.loss == "bce" and not all(v in (0, 1) for r in y for v in r):
        return "y must hold 0 or 1 for bce"
    return problem
