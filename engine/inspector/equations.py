"""The chain rule per layer as LaTeX with this network's real shapes, one weight's gradient term by term,
and the element-wise differences between the three gradients (what the Backward view draws).

Notation (DESIGN.md): z_l = a_{l-1} W_lᵀ + b_l, a_l = φ_l(z_l), δ_l = ∂L/∂z_l; batches are rows, B of them.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.core.layers import flat
from engine.core.layers.terms import ElementTerms, tex_number  # tex_number: defined once, for every equation
from engine.core.ops import LOSSES
from engine.inspector.spec import NetworkSpec
from engine.inspector.trace import GradComparison, Trace

MAX_TERMS = 8  # terms written out in the term-by-term example; the rest are summed but shown as "…"


def shape(*dims: int) -> str:
    r"""(4\times 2) — a shape as LaTeX."""
    return "(" + r"\times ".join(str(d) for d in dims) + ")"


def _d(top: str, bottom: str) -> str:
    return rf"\frac{{\partial {top}}}{{\partial {bottom}}}"


@dataclass
class Equation:
    caption: str  # one plain sentence saying what the line computes
    latex: str


def loss_equation(spec: NetworkSpec) -> Equation:
    loss = LOSSES[spec.loss]
    return Equation(f"Loss ({spec.loss}, {loss.reduction_caption})", loss.latex)


def _output_delta(spec: NetworkSpec, B: int) -> Equation:
    """δ_L at the output, fused where the loss and the last activation simplify together."""
    L, k, act = len(spec.layers), spec.output_size, spec.layers[-1].activation
    s = shape(B, k)
    if spec.loss == "cross_entropy":  # softmax fused into the loss on logits a_L = z_L
        tex = rf"\delta_{{{L}}} = \frac{{\mathrm{{softmax}}(z_{{{L}}}) - \mathrm{{onehot}}(y)}}{{{B}}}"
        return Equation("Output error: softmax and cross-entropy fused", rf"{tex} \quad {s}")
    if spec.loss == "bce" and act == "sigmoid":  # (a − y)/(a(1 − a)) · a(1 − a)
        return Equation("Output error: sigmoid and BCE fused",
                        rf"\delta_{{{L}}} = \frac{{a_{{{L}}} - y}}{{{B * k}}} \quad {s}")
    grad_a = {"mse": rf"\frac{{2(a_{{{L}}} - y)}}{{{B * k}}}", "sum": r"\mathbf{1}"}.get(
        spec.loss, _d("L", f"a_{{{L}}}"))
    if act == "softmax":  # row-wise Jacobian product, not element-wise
        g = _d("L", f"a_{{{L}}}")
        tex = (rf"\delta_{{{L}}} = a_{{{L}}} \odot \Big({g} - \sum_j \big({g}\big)_j a_{{{L},j}}\Big),"
               rf"\quad {g} = {grad_a}")
        return Equation("Output error through softmax (its Jacobian, row by row)", rf"{tex} \quad {s}")
    tex = rf"\delta_{{{L}}} = {_d('L', f'a_{{{L}}}')} \odot \phi_{{{L}}}'(z_{{{L}}}) = {grad_a} \odot \phi'(z_{{{L}}})"
    return Equation(f"Output error: ∂L/∂a times φ' ({act})", rf"{tex} \quad {s} = {s} \odot {s}")


def _consumers(layers: list, block=None) -> dict:
    """Layer index → the layer that takes its output a_l (None: the loss; ("block", B): the sum x + f(x) of
    block B, which passes δ_B on as ∂L/∂a_l)."""
    out = {}
    for k, layer in enumerate(layers):
        nxt = layers[k + 1] if k + 1 < len(layers) else (("block", block) if block is not None else None)
        out[layer.index] = nxt
        out.update(_consumers(layer.children, layer))
    return out


def input_sources(layers: list, prev: int = 0) -> dict[int, int]:
    """Layer index → the index s of the layer whose output a_s it takes (0: x). Run order numbers a block's inner
    layers after the block, so s = l − 1 fails twice: a block's first inner layer takes the block's input, and
    the layer after a block takes the block's output, not its last inner layer's."""
    out = {}
    for layer in layers:
        out[layer.index] = prev
        out.update(input_sources(layer.children, prev))
        prev = layer.index
    return out


def _renamed_input(l: int, s: int, latex: str) -> str:
    """The kinds write layer l's input as a_{l-1}; name the a it really takes."""
    return latex if s == l - 1 else latex.replace(f"a_{{{l - 1}}}", f"a_{{{s}}}")


def layer_equations(spec: NetworkSpec, l: int) -> list[Equation]:
    """The forward and backward equations of layer l (from 1, run order, inner layers included), each with its
    shapes written out, from the layer's kind (the layer protocol) and the activation it carries."""
    top, B = spec.build_layers(), spec.n_rows
    layer = flat(top)[l - 1]
    act, o = layer.activation.name, layer.units
    eqs = [Equation(c, t) for c, t in layer.latex_forward(B)]
    eqs.append(Equation(f"Activation ({act})", rf"a_{{{l}}} = \phi_{{{l}}}(z_{{{l}}}),\quad {layer.activation.latex}"))
    above = _consumers(top)[l]
    if above is None:
        eqs.append(_output_delta(spec, B))
    elif isinstance(above, tuple):
        b, s = above[1].index, input_sources(top)[above[1].index]
        eqs.append(Equation(f"Error at layer {l}: the block's sum z_{b} = a_{s} + f(a_{s}) passes δ_{b} "
                            f"straight to the last inner layer, times φ' ({act})",
                            rf"\delta_{{{l}}} = \delta_{{{b}}} \odot \phi_{{{l}}}'(z_{{{l}}}) \quad "
                            rf"{shape(B, o)} = {shape(B, o)} \odot {shape(B, o)}"))
    else:
        q = above.units
        via = rf"{shape(B, q)}\,{shape(q, o)}" if above.type == "linear" else rf"{shape(B, q)} \to {shape(B, o)}"
        eqs.append(Equation(f"Error at layer {l}: the error of layer {above.index} sent back through it, "
                            f"times φ' ({act})",
                            rf"\delta_{{{l}}} = ({above.latex_grad_input()}) \odot \phi_{{{l}}}'(z_{{{l}}})"
                            rf" \quad {shape(B, o)} = ({via}) \odot {shape(B, o)}"))
    eqs += [Equation(c, t) for c, t in layer.latex_backward(B)]
    s = input_sources(top)[l]
    return [Equation(e.caption, _renamed_input(l, s, e.latex)) for e in eqs]


@dataclass
class TermExample:
    layer: int
    row: int  # i: output unit (row of W_l), from 0
    col: int  # j: input unit (column of W_l), from 0
    terms: list[tuple[int, float, float, float]]  # (batch row r, δ_l[r,i], a_{l-1}[r,j], their product)
    total: float  # Σ_r δ_l[r,i] a_{l-1}[r,j] over all B rows
    latex: str


def products_tex(pairs: list[tuple[float, float]], unit: str = "rows") -> str:
    """u₀·v₀ + u₁·v₁ + … with the first MAX_TERMS products written out, the rest counted as "… (n more rows)"."""
    shown = " + ".join(rf"{tex_number(u)}\cdot{tex_number(v)}" for u, v in pairs[:MAX_TERMS])
    if len(pairs) > MAX_TERMS:
        shown += rf" + \dots\ (\text{{{len(pairs) - MAX_TERMS} more {unit}}})"
    return shown


def weight_term_example(t: Trace, l: int, i: int, j: int) -> TermExample:
    """∂L/∂W_l[i,j] = Σ_r δ_l[r,i] · a_{l-1}[r,j], with the trace's numbers (manual δ and inputs)."""
    lt = t.all_layers[l - 1]
    if not (0 <= i < lt.weight.shape[0] and 0 <= j < lt.weight.shape[1]):
        raise IndexError(f"W_{l} has shape {tuple(lt.weight.shape)}; pick i < {lt.weight.shape[0]}, "
                         f"j < {lt.weight.shape[1]}")
    delta = lt.grads["z"].manual[:, i].to(torch.float64)  # δ_l[:, i], (B,)
    a_prev = lt.input[:, j].to(torch.float64)  # a_{l-1}[:, j], (B,)
    products = delta * a_prev
    columns = zip(delta.tolist(), a_prev.tolist(), products.tolist(), strict=True)
    terms = [(r, d, a, p) for r, (d, a, p) in enumerate(columns)]
    total = products.sum().item()
    shown = products_tex([(d, a) for _, d, a, _ in terms])
    s = input_sources(t.spec.build_layers())[l]
    tex = (rf"{_d('L', f'W_{{{l}}}[{i},{j}]')} = \sum_{{r}} \delta_{{{l}}}[r,{i}]\; a_{{{s}}}[r,{j}] "
           rf"= {shown} = {tex_number(total)}")
    return TermExample(l, i, j, terms, total, tex)


def input_term_example(t: Trace, l: int, r: int, j: int) -> ElementTerms | None:
    """∂L/∂a_{l-1}[r, j] of layer l written out by its kind with the trace's manual numbers (δ_l, the forward
    values, a block's inner-path gradient); None for a linear layer (its example is one weight's sum)."""
    lt = t.all_layers[l - 1]
    rows, cols = lt.input.shape
    if not (0 <= r < rows and 0 <= j < cols):
        raise IndexError(f"a_{l - 1} has shape {(rows, cols)}; pick r < {rows}, j < {cols}")
    inner = lt.children[0].grads["input"].manual if lt.children else None
    terms = lt.layer.element_terms(lt.params, lt.input, lt.values, lt.grads["z"].manual, r, j, inner)
    s = input_sources(t.spec.build_layers())[l]
    if s != l - 1:  # captions say "x = a4" in words
        terms.lines = [(c.replace(f"x = a{l - 1} ", f"x = a{s} "), _renamed_input(l, s, tex)) for c, tex in terms.lines]
    return terms


def gradient_differences(g: GradComparison) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(|manual − autograd|, |numerical − autograd| with NaN at ReLU-kink elements or None if skipped)."""
    manual = (g.manual - g.autograd).abs()
    if g.numerical is None:
        return manual, None
    numerical = (g.numerical - g.autograd.to(torch.float64)).abs()
    return manual, numerical.masked_fill(g.kink, float("nan"))


def numerical_tolerance(g: GradComparison, dtype: str, loss: float) -> float:
    """The bound trace() held |numerical − autograd| to (see backprop.compare): shown exactly as used."""
    return g.numerical_tolerance
