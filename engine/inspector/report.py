"""A Trace as JSON-ready data (the CLI contract) and as a readable per-layer text table."""
from __future__ import annotations

import math

import torch

from engine.core.ops import LOSSES
from engine.inspector.trace import GradComparison, Trace

GRAD_LABELS = {"weight": "dL/dW", "bias": "dL/db", "z": "delta=dL/dz", "a": "dL/da", "input": "dL/da_prev"}


def _comparison_dict(g: GradComparison) -> dict:
    return {
        "manual": _values(g.manual),
        "autograd": _values(g.autograd),
        "numerical": None if g.numerical is None else _values(g.numerical),
        "kink": None if g.kink is None else g.kink.tolist(),
        "max_abs_error": finite_or_none(g.max_abs_error),
        "max_rel_error": finite_or_none(g.max_rel_error),
        "numerical_max_abs_error": finite_or_none(g.numerical_max_abs_error),
        "agree": g.agree,
        "tolerance": finite_or_none(g.tolerance),
    }


def finite_or_none(value):
    """JSON has no NaN or Infinity: non-finite numbers (an overflowing forward pass) become null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, list):
        return [finite_or_none(v) for v in value]
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    return value


def _values(t: torch.Tensor) -> list:
    """t.tolist() with non-finite numbers as null; the element-by-element walk only when there are any (the MNIST
    network's trace has 610 000 numbers: walking them all took longer than computing them)."""
    values = t.tolist()
    if t.is_floating_point() and not bool(torch.isfinite(t).all()):
        return finite_or_none(values)
    return values


def trace_to_dict(t: Trace) -> dict:
    """The `python -m engine inspect --json` object. Layers are numbered from 1; grads.z is δ_l.
    Non-finite numbers are null, so the output is strict JSON (tensors by _values, scalars by finite_or_none)."""
    f = finite_or_none
    return {
        "spec": f(t.spec.to_dict()),
        "loss": f(t.loss),
        "loss_autograd": f(t.loss_autograd),
        "x": _values(t.x),
        "y": _values(t.y),
        "agree": t.agree,
        "numerical_note": t.numerical_note,
        "layers": [_layer_dict(lt) for lt in t.layers],
    }


def _layer_dict(lt) -> dict:
    """One layer: index (run order), type, its parameters by torch's names, forward values (input, z, a and the
    kind's own: mean/var/x_hat, mask), grads; a residual block's inner layers under "layers"."""
    d = {"index": lt.index, "type": lt.layer.type, "activation": lt.activation,
         **{name: _values(p) for name, p in lt.params.items()},
         "input": _values(lt.input), "z": _values(lt.z), "a": _values(lt.a),
         **{name: _values(v) for name, v in lt.values.items()},
         "max_abs_error": finite_or_none(lt.max_abs_error),
         "grads": {name: _comparison_dict(g) for name, g in lt.grads.items()}}
    if lt.children:
        d["layers"] = [_layer_dict(c) for c in lt.children]
    return d


def _fmt(values, width: int = 60) -> str:
    text = str([round(v, 6) if isinstance(v, float) else _round(v) for v in values])
    return text if len(text) <= width else text[: width - 3] + "..."


def _round(v):
    return [round(x, 6) for x in v] if isinstance(v, list) else v


def trace_to_text(t: Trace) -> str:
    """A per-layer table: forward values, then each gradient by manual / autograd / numerical."""
    reduction = "sum, no mean" if LOSSES[t.spec.loss].reduction == "sum" else "mean reduction"
    lines = [f"network {t.spec.sizes}  loss={t.spec.loss} ({reduction})  dtype={t.spec.dtype}  "
             f"seed={t.spec.seed}",
             f"loss = {t.loss:.10g}   agree = {t.agree}"]
    if t.numerical_note:
        lines.append(t.numerical_note)
    for lt in (inner for top in t.layers for inner in top.flat()):
        kind = "" if lt.layer.type == "linear" else f"{lt.layer.describe()}  "
        shapes = "  ".join(f"{GRAD_LABELS[name][4:] if kind == '' else name} {'x'.join(map(str, p.shape))}"
                           for name, p in lt.params.items())
        lines += ["", f"layer {lt.index}: {lt.activation}  {kind}{shapes}  "
                      f"(max |manual - autograd| = {lt.max_abs_error:.2e})",
                  f"  z = {_fmt(lt.z.tolist())}", f"  a = {_fmt(lt.a.tolist())}"]
        lines += [f"  {name} = {_fmt(v.tolist())}" for name, v in lt.values.items()]
        lines.append(f"  {'gradient':<12} {'manual':<34} {'autograd':<34} {'numerical':<34} ok")
        for name, g in lt.grads.items():
            num = "-" if g.numerical is None else _fmt(g.numerical.flatten().tolist(), 33)
            label = GRAD_LABELS.get(name, f"dL/d{name}")
            lines.append(f"  {label:<12} {_fmt(g.manual.flatten().tolist(), 33):<34} "
                         f"{_fmt(g.autograd.flatten().tolist(), 33):<34} {num:<34} {'yes' if g.agree else 'NO'}")
    return "\n".join(lines)
