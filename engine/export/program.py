"""A NetworkSpec as a standalone program, cell by cell: data, forward, loss, the manual backward layer by
layer, autograd on the same tensors, and the comparison (engine.export.render writes it as .py or .ipynb).

Variables in the program (DESIGN.md notation, layer l from 1 in run order): a0 = x (B, n_0); the kind's
parameters (W1, b1; gamma2, beta2 …); z1, a1 (B, n_1); delta1 = δ_1 = ∂L/∂z_1; da1 = ∂L/∂a_1; dW1 = ∂L/∂W_1.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import torch

from engine.core.layers import Layer
from engine.core.layers.residual import split
from engine.core.ops import LOSSES
from engine.export.kinds import KIND_CODE
from engine.export.ops import ACTIVATION_CODE, LOSS_CODE
from engine.inspector.budget import MAX_EXPORT_NUMBERS
from engine.inspector.equations import layer_equations, loss_equation
from engine.inspector.materialize import materialize
from engine.inspector.spec import NetworkSpec
from engine.inspector.trace import MANUAL_TOL


@dataclass
class Cell:
    title: str  # a heading, plain text
    code: str  # Python source
    notes: list[str] = field(default_factory=list)  # plain sentences: comments in .py, paragraphs in .ipynb
    equations: list[tuple[str, str]] = field(default_factory=list)  # (caption, LaTeX): the notebook's markdown


@dataclass
class LayerVars:
    """The program's names for one layer: its input x (B, fan_in), where ∂L/∂x goes, and its own tensors."""

    layer: Layer
    x: str  # the input a_in (B, fan_in)
    dx: str  # the variable ∂L/∂x is written to
    B: int  # batch rows
    dx_is_total: bool = True  # False: dx is one path's share only (a residual block's inner path)

    def _name(self, stem: str) -> str:
        return f"{stem}{self.layer.index}"

    z = property(lambda self: self._name("z"))
    a = property(lambda self: self._name("a"))
    delta = property(lambda self: self._name("delta"))
    da = property(lambda self: self._name("da"))

    def param(self, name: str) -> str:
        return param_var(self.layer, name)

    def grad(self, name: str) -> str:
        return "d" + self.param(name)


class Walk:
    """Writes a layer's forward (kind, then activation) and backward (activation, then kind) as lines."""

    def __init__(self, B: int):
        self.B = B

    def vars(self, layer: Layer, x: str, dx: str, total: bool = True) -> LayerVars:
        return LayerVars(layer, x, dx, self.B, total)

    def forward(self, v: LayerVars) -> list[str]:
        act = ACTIVATION_CODE[v.layer.activation.name]
        rhs = act.forward.format(z=v.z)
        return [*KIND_CODE[v.layer.type].forward(v, self),
                f"{v.a} = {rhs}  # a_{v.layer.index} = {v.layer.activation.name}(z_{v.layer.index}): "
                f"({self.B}, {v.layer.units})"]

    def backward(self, v: LayerVars, delta_given: bool = False) -> list[str]:
        """From v.da (or v.delta when delta_given): δ, then the kind's parameter gradients and ∂L/∂x."""
        lines = []
        if not delta_given:
            act = ACTIVATION_CODE[v.layer.activation.name]
            lines.append(f"{v.delta} = {act.backward.format(z=v.z, a=v.a, da=v.da)}  "
                         f"# δ_{v.layer.index} = ∂L/∂a ⊙ φ'(z), {act.why}: ({self.B}, {v.layer.units})")
        return lines + KIND_CODE[v.layer.type].backward(v, self)


def safe_name(name: str) -> str:
    """A spec's name (user text) as it may appear in a docstring or markdown: word characters and . , : ( ) -."""
    return re.sub(r"[^\w .,:()+-]", "?", name)[:80]


def literal(t: torch.Tensor) -> str:
    """A tensor's values as a Python list literal, exact (repr of each float), one row per line."""
    def num(v):
        return repr(v) if isinstance(v, int) or v == v and abs(v) != float("inf") else f"float('{v}')"

    if t.dim() == 1:
        return "[" + ", ".join(num(v) for v in t.tolist()) + "]"
    rows = [literal(row) for row in t]
    return rows[0].join("[]") if len(rows) == 1 else "[\n    " + ",\n    ".join(rows) + ",\n]"


def tensor_line(name: str, t: torch.Tensor, dtype: str, grad: bool, why: str) -> str:
    kw = "dtype=torch.long" if t.dtype == torch.int64 else f"dtype={dtype}"
    return f"{name} = torch.tensor({literal(t)}, {kw}{', requires_grad=True' if grad else ''})  # {why}"


def flat_params(layer: Layer, params: dict) -> list[tuple[Layer, dict]]:
    """(layer, its own parameters) for this layer and its inner layers in run order; a block names its inner
    layers' parameters "k.name" (as nn.Sequential does)."""
    if not layer.children:
        return [(layer, params)]
    return [(layer, {})] + [pair for k, child in enumerate(layer.children)
                            for pair in flat_params(child, split(params, k))]


ABOUT = '''One forward pass; the backward pass written out by hand, layer by layer (the chain rule in the notation
z_l = layer_l(a_in), a_l = φ_l(z_l), δ_l = ∂L/∂z_l; batches are rows); then PyTorch autograd on the same
tensors, and the two compared. Needs only torch.'''
RUN = '''Run: python FILE.py          one line per gradient: max |manual − autograd| and whether they agree
     python FILE.py --json   JSON like `python -m engine inspect --json` (loss, layers[].grads.NAME.manual/autograd)
     Exit status 0 only when every manual gradient agrees with autograd (|Δ| ≤ {tol:g} · max(1, max |autograd|)).'''

IMPORTS = "import json\nimport sys\n\nimport torch\nimport torch.nn.functional as F"


def program(spec: NetworkSpec) -> list[Cell]:
    """The program's cells for a valid spec; ValueError (one line) when it would be too large to write out."""
    numbers = spec.check().n_export_numbers
    if numbers > MAX_EXPORT_NUMBERS:
        raise ValueError(f"this network has {numbers:,} weights and data values; an export writes out at most "
                         f"{MAX_EXPORT_NUMBERS:,}: use fewer or narrower layers or a smaller batch")
    m = materialize(spec)
    walk, B = Walk(m.x.shape[0]), m.x.shape[0]
    tops, x = [], "a0"
    for layer in m.layers:
        tops.append(walk.vars(layer, x, "d" + x))
        x = tops[-1].a
    title = (f"{safe_name(spec.name) + ' — ' if spec.name else ''}network {' → '.join(map(str, spec.sizes))}, "
             f"loss {spec.loss}, {spec.dtype}, batch {B}, seed {spec.seed}")
    header = Cell("Backprop Lab export", IMPORTS, [f"Backprop Lab export: {title}.", ABOUT,
                                                    RUN.format(tol=MANUAL_TOL[spec.dtype])])
    cells = [header, _data_cell(spec, m, tops)]
    cells += [_forward_cell(spec, walk, v) for v in tops]
    cells.append(_loss_cell(spec, tops[-1]))
    cells += [_backward_cell(spec, walk, v, v is tops[-1]) for v in reversed(tops)]
    cells += [_autograd_cell(walk, tops), _report_cell(spec, walk, tops)]
    return cells


def _data_cell(spec: NetworkSpec, m, tops: list[LayerVars]) -> Cell:
    dtype = f"torch.{spec.dtype}"
    B, n0 = m.x.shape
    target = "class indices" if m.y.dtype == torch.int64 else "targets"
    lines = [f"DTYPE = {dtype}  # the spec's dtype", "",
             tensor_line("x", m.x, "DTYPE", True, f"({B}, {n0}): the input batch, one row per sample"),
             tensor_line("y", m.y, "DTYPE", False, f"{tuple(m.y.shape)}: the {target}")]
    for v, params in zip(tops, m.params, strict=True):
        for layer, own in flat_params(v.layer, params):
            for name, t in own.items():
                why = f"{tuple(t.shape)}: layer {layer.index}'s {name} ({layer.describe()})"
                lines.append(tensor_line(param_var(layer, name), t, "DTYPE", True, why))
            extra = getattr(KIND_CODE[layer.type], "data", None)  # what else a kind reads: a dropout mask
            for var, (t, why) in (extra(layer, m.state) if extra else {}).items():
                lines.append(tensor_line(var, t, "DTYPE", False, why))
    return Cell("The network's parameters and data", "\n".join(lines),
                ["Every number written out exactly as Backprop Lab drew it from the spec's seed (or as the spec "
                 "gives it). requires_grad=True lets autograd compute the same gradients at the end."])


def param_var(layer: Layer, name: str) -> str:
    """The program's variable for a layer's parameter by torch's name: layer 3's weight → W3."""
    return f"{KIND_CODE[layer.type].PARAMS[name]}{layer.index}"


def _renumber(eq: tuple[str, str], old: int, new: int) -> tuple[str, str]:
    """(caption, LaTeX) with a_old written a_new. The Math tab's equations call a layer's input a_{l−1}; after or
    inside a residual block (whose inner layers take the numbers in between) the input is another a."""
    caption, tex = eq
    return re.sub(rf"a_{old}(?!\d)", f"a_{new}", caption), tex.replace(f"a_{{{old}}}", f"a_{{{new}}}")


def _equations(spec: NetworkSpec, walk: Walk, v: LayerVars, block: LayerVars | None = None) -> tuple[list, list]:
    """(forward, backward) equations of a layer as (caption, LaTeX), a block's inner layers' included (forward
    in run order, backward in reverse), from engine.inspector.equations (the Math tab's), each naming the a that
    really is the layer's input (v.x). block: the residual block whose sum feeds this layer's δ, if any."""
    l, src = v.layer.index, int(v.x[1:])  # v.x is "a<src>"
    raw = [(e.caption, e.latex) for e in layer_equations(spec, l)]
    eqs = [_renumber(eq, l - 1, src) for eq in raw]
    n = len(v.layer.latex_forward(walk.B)) + 1  # the kind's forward lines, then the activation; then δ_l
    if block is not None:  # δ_l comes from the block's sum z_b = a_in + f(a_in), which it names a_{b−1}
        eqs[n] = _renumber(raw[n], block.layer.index - 1, int(block.x[1:]))
    forward, backward = eqs[:n], eqs[n:]
    inner_vars = getattr(KIND_CODE[v.layer.type], "inner_vars", None)
    children = inner_vars(v, walk) if inner_vars else []
    inner = [_equations(spec, walk, c, v if c is children[-1] else None) for c in children]
    return forward + [e for f, _ in inner for e in f], backward + [e for _, b in reversed(inner) for e in b]


def _forward_cell(spec: NetworkSpec, walk: Walk, v: LayerVars) -> Cell:
    code = (["a0 = x  # a₀ = x"] if v.x == "a0" else []) + walk.forward(v)
    return Cell(f"Forward, layer {v.layer.index}: {v.layer.describe()}", "\n".join(code), [],
                _equations(spec, walk, v)[0])


def _loss_cell(spec: NetworkSpec, out: LayerVars) -> Cell:
    code = LOSS_CODE[spec.loss]
    eq = loss_equation(spec)
    return Cell("Loss", f"L = {code.value.format(a=out.a, y='y')}  # {code.why}", [eq.caption],
                [(eq.caption, eq.latex)])


def _backward_cell(spec: NetworkSpec, walk: Walk, v: LayerVars, output: bool) -> Cell:
    layer, l = v.layer, v.layer.index
    lines, fused = [], False
    if output:
        loss = LOSS_CODE[spec.loss]
        lines += ["torch.set_grad_enabled(False)  # the manual backward is plain arithmetic: no autograd graph",
                  f"{v.da} = {loss.grad.format(a=v.a, y='y')}  # ∂L/∂a_{l}: {loss.why}"]
        fused = loss.fused is not None and layer.activation.name == LOSSES[spec.loss].output
        if fused:
            lines.append(f"{v.delta} = {loss.fused.format(a=v.a, y='y', da=v.da)}  # δ_{l}: {loss.fused_why}")
    lines += walk.backward(v, delta_given=fused)
    return Cell(f"Backward, layer {l}: {layer.describe()}", "\n".join(lines), [], _equations(spec, walk, v)[1])


def _every_vars(walk: Walk, v: LayerVars) -> list[LayerVars]:
    """v and a block's inner layers' names, in run order."""
    inner = getattr(KIND_CODE[v.layer.type], "inner_vars", None)
    return [v] + ([w for c in inner(v, walk) for w in _every_vars(walk, c)] if inner else [])


def _autograd_cell(walk: Walk, tops: list[LayerVars]) -> Cell:
    names = ["a0"] + [name for top in tops for v in _every_vars(walk, top) for name in (v.z, v.a)]
    code = ["torch.set_grad_enabled(True)",
            f"for t in ({', '.join(dict.fromkeys(names))}):",
            "    t.retain_grad()  # keep ∂L/∂t on intermediate tensors too, not only on the leaves",
            "L.backward()  # autograd fills .grad of every parameter, x and the tensors above"]
    return Cell("Autograd on the same tensors", "\n".join(code),
                ["The forward pass above built autograd's graph; one call runs it backwards."])


REPORT = '''TOL = {tol!r}  # |manual − autograd| ≤ TOL · max(1, max |autograd|): the two differ by rounding only


def pair(manual, autograd):
    """One gradient both ways: the values, max |manual − autograd|, and whether that is within TOL."""
    autograd = torch.zeros_like(manual) if autograd is None else autograd
    error = (manual - autograd).abs().max().item() if manual.numel() else 0.0
    scale = max(1.0, autograd.abs().max().item()) if manual.numel() else 1.0
    return {{"manual": manual.tolist(), "autograd": autograd.tolist(), "max_abs_error": error,
            "agree": error <= TOL * scale}}


def every_layer(layers):
    for layer in layers:
        yield layer
        yield from every_layer(layer.get("layers", []))


layers = {layers}
agree = all(g["agree"] for layer in every_layer(layers) for g in layer["grads"].values())
if "--json" in sys.argv[1:]:
    print(json.dumps({{"loss": L.item(), "agree": agree, "layers": layers}}))
else:
    print(f"loss = {{L.item():.10g}}   agree = {{agree}}")
    for layer in every_layer(layers):
        for name, g in layer["grads"].items():
            print(f"layer {{layer['index']}}  dL/d{{name:<7}} max |manual - autograd| = {{g['max_abs_error']:.1e}}  "
                  f"{{'ok' if g['agree'] else 'DIFFERENT'}}")
if not agree:
    sys.exit(1)  # exit status 1: some manual gradient differs from autograd'''


def _report_cell(spec: NetworkSpec, walk: Walk, tops: list[LayerVars]) -> Cell:
    entries = ",\n".join(_layer_entry(walk, v, "    ") for v in tops)
    return Cell("Manual vs autograd", REPORT.format(tol=MANUAL_TOL[spec.dtype], layers=f"[\n{entries},\n]"),
                ["Each gradient of each layer: weight and bias (by torch's names), z (δ = ∂L/∂z), a (∂L/∂a) and "
                 "input (∂L/∂ of the layer's input)."])


def _layer_entry(walk: Walk, v: LayerVars, indent: str) -> str:
    """One layer of the JSON: {"index", "grads": {name: pair(manual, autograd)}, a block's inner "layers"}."""
    pairs = [(name, v.grad(name), v.param(name)) for name in (v.layer.param_shapes() if not v.layer.children else ())]
    pairs += [("z", v.delta, v.z), ("a", v.da, v.a)] + ([("input", v.dx, v.x)] if v.dx_is_total else [])
    grads = "".join(f'\n{indent}    "{name}": pair({manual}, {tensor}.grad),' for name, manual, tensor in pairs)
    entry = f'{indent}{{"index": {v.layer.index}, "grads": {{{grads}\n{indent}}}'
    inner = getattr(KIND_CODE[v.layer.type], "inner_vars", None)
    if inner:
        children = ",\n".join(_layer_entry(walk, c, indent + "    ") for c in inner(v, walk))
        entry += f', "layers": [\n{children},\n{indent}]'
    return entry + "}"
