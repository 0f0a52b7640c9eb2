"""The frame record and the builder that walks a trace into frames (shared by forward.py and backward.py).

Notation (DESIGN.md): z_l = layer_l(a_s) where a_s is the output of the layer feeding l (a_0 = x),
a_l = φ_l(z_l), δ_l = ∂L/∂z_l; batches are rows, B of them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import torch

from engine.inspector.equations import Equation, layer_equations
from engine.inspector.trace import LayerTrace, Trace
from engine.teach import numbers as nb

_PARTIAL = re.compile(r"\\frac\{\\partial L\}\{\\partial ((?:[^{}]|\{[^{}]*\})+)\}")  # ∂L/∂X in a kind's LaTeX


@dataclass(frozen=True)
class Selection:
    """The element a large tensor's frame writes out term by term: batch row r, unit i of the layer's output,
    unit j of its input (each moved inside the tensor at hand)."""

    row: int = 0
    unit: int = 0
    col: int = 0


@dataclass(frozen=True)
class Frame:
    phase: str  # "forward", "loss" or "backward"
    quantity: str  # "x", "z", "a", "loss", "grad_a", "delta", "grad_param" or "grad_input"
    symbol: str  # LaTeX name of what it computes: z_{1}, \frac{\partial L}{\partial W_{2}}
    title: str  # the same in words
    layer: int | None  # l, in run order (a block's inner layers included); None for x and the loss
    param: str | None  # the parameter (torch's name) of a grad_param frame
    value: torch.Tensor  # the trace's tensor: (B, n) for x, z, a, ∂L/∂a, δ; the parameter's shape; () for L
    nodes: tuple[int, ...]  # diagram columns (0 = input, p = p-th top-level layer) whose units it computes
    edges: tuple[int, ...]  # diagram columns whose incoming edges it computes or sends the gradient through
    uses: tuple[str, ...]  # LaTeX names of the known quantities it is computed from
    caption: str  # one sentence: what this step does
    equation: str  # LaTeX with this network's shapes
    numbers: str  # LaTeX with this network's numbers


def d(x: str) -> str:
    """∂L/∂x as LaTeX."""
    return rf"\frac{{\partial L}}{{\partial {x}}}"


def a(k: int) -> str:
    return f"a_{{{k}}}"


def roman(name: str) -> str:
    r"""\mathrm{leaky\_relu}: a name as upright LaTeX text."""
    escaped = name.replace("_", r"{\_}")
    return rf"\mathrm{{{escaped}}}"


def plain(symbol: str) -> str:
    """W_{1} → W1, \\gamma_{2} → γ2: a symbol for plain text."""
    greek = {r"\gamma": "γ", r"\beta": "β"}
    for tex, letter in greek.items():
        symbol = symbol.replace(tex, letter)
    return re.sub(r"[\\{}_^]", "", symbol)


def children(lt: LayerTrace) -> list[LayerTrace]:
    """A residual block's inner layers (none for other kinds, or before the kinds that nest exist)."""
    return list(getattr(lt, "children", []))


class Builder:
    """Holds the trace, the selection and the frames so far, and writes tensors as LaTeX."""

    def __init__(self, t: Trace, sel: Selection):
        self.t, self.sel, self.B = t, sel, t.x.shape[0]
        self.frames: list[Frame] = []
        self.column: dict[int, int] = {}  # layer index → diagram column (inner layers: their block's)
        self.source: dict[int, int] = {}  # layer index → the index of the layer whose a it takes (0: x)

    def add(self, **kw) -> None:
        self.frames.append(Frame(**kw))

    def equations(self, lt: LayerTrace) -> tuple[list[Equation], int]:
        """layer_equations of lt (they name the a_s a layer really takes) and how many are forward lines:
        [forward…, φ, δ, backward…]."""
        return layer_equations(self.t.spec, lt.index), len(lt.layer.latex_forward(self.B))

    def backward_lines(self, lt: LayerTrace) -> list[Equation]:
        eqs, nf = self.equations(lt)
        return eqs[nf + 2:]

    def param_symbols(self, lt: LayerTrace) -> dict[str, str]:
        """Parameter name → its LaTeX symbol, read from the kind's own backward LaTeX (∂L/∂W_{l}, ∂L/∂γ_{l}, …:
        the k-th ∂L/∂θ that is not a ∂L/∂a names the k-th parameter, in param_shapes' order)."""
        found: list[str] = []
        for e in self.backward_lines(lt):
            found += [s for s in _PARTIAL.findall(e.latex) if not s.startswith("a_") and s not in found]
        return {name: found[k] if k < len(found) else rf"\theta^{{{name}}}_{{{lt.index}}}"
                for k, name in enumerate(lt.params)}

    def line_with(self, lt: LayerTrace, symbol: str) -> Equation:
        """The kind's backward line that defines ∂L/∂symbol (its last line when none names it)."""
        lines = self.backward_lines(lt)
        return next((e for e in lines if d(symbol) in e.latex), lines[-1])

    def at(self, value: torch.Tensor, unit: int | None = None) -> tuple[int, ...]:
        """The selected element of value: [row, unit] of a (B, n) tensor, [unit] of a vector, () of a scalar."""
        unit = self.sel.unit if unit is None else unit
        full = (self.sel.row, unit)[-value.dim():] if value.dim() else ()
        return nb.clamp(full, value.shape)

    def tensor(self, lhs: str, value: torch.Tensor, index: tuple[int, ...] | None = None) -> str:
        """lhs = the whole tensor when small, else its element at the selection."""
        if nb.is_small(value):
            return f"{lhs} = {nb.matrix(value)}"
        index = self.at(value) if index is None else index
        return f"{lhs}{nb.where(index)} = {nb.number(value[index])}"

    def elementwise(self, lhs: str, value: torch.Tensor, operands: list[tuple[str, torch.Tensor]]) -> str:
        """lhs beside the operands it is computed from: whole when all are small, else at the selected
        element (an operand whose matching element is ambiguous is shown whole when small, else left out)."""
        if nb.is_small(value, *(v for _, v in operands)):  # one line each, aligned at '='
            shown = "".join(rf"{name} &= {nb.matrix(_as_drawn(v, value))} \\ " for name, v in operands)
            return rf"\begin{{aligned}} {shown}\Rightarrow\ {lhs} &= {nb.matrix(value)} \end{{aligned}}"
        index = self.at(value)
        parts = []
        for name, v in operands:
            k = _matching(v, value, index)
            if k is not None:
                parts.append(f"{name}{nb.where(k)} = {nb.number(v[k])}")
            elif nb.is_small(v):
                parts.append(f"{name} = {nb.matrix(v)}")
        joined = r",\quad ".join(parts)
        return rf"{joined} \;\Rightarrow\; {lhs}{nb.where(index)} = {nb.number(value[index])}"


def _as_drawn(v: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """A per-row vector (B,) (LayerNorm's μ, σ²) as a column beside the (B, n) value, so it reads one per row;
    a per-unit one (n,) stays a row (one per column)."""
    if v.dim() == 1 and value.dim() == 2 and v.shape[0] == value.shape[0] != value.shape[1]:
        return v.reshape(-1, 1)
    return v


def _matching(v: torch.Tensor, value: torch.Tensor, index: tuple[int, ...]) -> tuple[int, ...] | None:
    """The element of operand v that value[index] is computed from: the same [r, i] of an operand shaped like
    value, [i] of a per-unit vector (n,) (γ, BatchNorm's μ), [r] of a per-row one (B,) (LayerNorm's μ); None
    when the shapes cannot tell (B = n)."""
    if v.shape == value.shape:
        return index
    if v.dim() == 1 and value.dim() == 2:
        rows, units = value.shape
        if v.shape[0] == units != rows:
            return (index[1],)
        if v.shape[0] == rows != units:
            return (index[0],)
    return None
