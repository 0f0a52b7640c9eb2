"""The validation rules for a NetworkSpec: each returns messages that say what is wrong and what to do.

Every function takes the spec (an engine.inspector.spec.NetworkSpec); that module imports these rules, so this one
does not import it back (not even for annotations: no cycle at all)."""
from __future__ import annotations

from engine.core.layers import INITS, KINDS
from engine.core.ops import ACTIVATIONS, LOSSES, output_layer_problems
from engine.core.spec import DTYPES, MAX_BATCH, MAX_LAYERS, MAX_PARAMETERS, MAX_UNITS, is_finite_number
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


def _layers(spec) -> list[str]:
    found = []
    last = len(spec.layers)
    for i, layer in enumerate(spec.layers, start=1):
        if not isinstance(layer.type, str) or layer.type not in KINDS:
            found.append(f"layer {i}: unknown type {layer.type!r}; use one of {', '.join(KINDS)}")
        if not _int_in(layer.units, 1, MAX_UNITS):
            found.append(f"layer {i} has {layer.units!r} units; use 1–{MAX_UNITS}")
        if not isinstance(layer.activation, str) or layer.activation not in ACTIVATIONS:
            found.append(f"layer {i}: unknown activation {layer.activation!r}; use one of {', '.join(ACTIVATIONS)}")
        elif layer.activation == "softmax" and i != last:
            found.append(f"layer {i}: softmax is only allowed on the output layer (layer {last})")
    if not found and spec.n_parameters > MAX_PARAMETERS:
        found.append(f"the network has {spec.n_parameters:,} parameters; the limit is {MAX_PARAMETERS:,} — "
                     "use fewer or narrower layers")
    return found


def _loss_vs_output(spec) -> list[str]:
    out = spec.layers[-1]
    return output_layer_problems(spec.loss, out.activation, out.units)


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
    sizes = spec.sizes
    for i, layer in enumerate(spec.layers, start=1):
        if layer.weight is not None:
            found.append(_matrix_problem(layer.weight, sizes[i], sizes[i - 1], f"layer {i} weight"))
        if layer.bias is not None:
            found.append(_vector_problem(layer.bias, sizes[i], f"layer {i} bias"))
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
