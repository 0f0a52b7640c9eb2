"""The derivation of one element (or the shape) of a_l, δ_l, ∂L/∂W_l or ∂L/∂b_l, term by term, with the trace's
numbers: what "reveal" shows.

Notation (DESIGN.md): z_l = a_{l-1} W_lᵀ + b_l, a_l = φ_l(z_l), δ_l = ∂L/∂z_l, ∂L/∂W_l = δ_lᵀ a_{l-1},
∂L/∂b_l = Σ_rows δ_l, ∂L/∂a_{l-1} = δ_l W_l. Every number written is read from the trace (the manual column,
which agrees with autograd), never recomputed by another formula.
"""
from __future__ import annotations

from engine.core.ops import ACTIVATIONS, LOSSES, softmax
from engine.inspector.equations import MAX_TERMS, Equation, products_tex, shape, tex_number, weight_term_example
from engine.inspector.trace import Trace


def derivation(t: Trace, quantity: str, l: int, index: tuple[int, ...] | None) -> list[Equation]:
    """How element `index` of `quantity` ("a", "delta", "weight", "bias") at layer l is computed; its shape's
    rule when index is None."""
    if index is None:
        return [_shape_rule(t, quantity, l)]
    if quantity == "a":
        return _activation(t, l, *index)
    if quantity == "delta":
        return _delta(t, l, *index)
    if quantity == "weight":
        ex = weight_term_example(t, l, *index)
        return [Equation(f"Each row r of the batch adds δ_{l}[r,{index[0]}] (the error at unit {index[0]}) times "
                         f"a_{l - 1}[r,{index[1]}] (what the weight received), ∂L/∂W_{l} = δ_{l}ᵀ a_{l - 1}", ex.latex)]
    return [_bias(t, l, index[0])]


def _shape_rule(t: Trace, quantity: str, l: int) -> Equation:
    B, n_in, n = t.x.shape[0], t.layers[l - 1].input.shape[1], t.layers[l - 1].a.shape[1]
    if quantity == "weight":
        return Equation(f"∂L/∂W_{l} has W_{l}'s shape (out, in), as torch.nn.Linear stores it",
                        rf"\frac{{\partial L}}{{\partial W_{{{l}}}}} = \delta_{{{l}}}^\top a_{{{l - 1}}}:\quad "
                        rf"{shape(n, B)}\,{shape(B, n_in)} = {shape(n, n_in)}")
    if quantity == "bias":
        return Equation(f"∂L/∂b_{l} sums δ_{l} over the batch's rows: one number per unit, like b_{l}",
                        rf"\frac{{\partial L}}{{\partial b_{{{l}}}}} = \sum_r \delta_{{{l}}}[r,:]:\quad "
                        rf"{shape(B, n)} \to ({n},)")
    if quantity == "delta":
        return Equation(f"δ_{l} = ∂L/∂z_{l} has z_{l}'s shape: one row per sample, one column per unit",
                        rf"\delta_{{{l}}} = \frac{{\partial L}}{{\partial z_{{{l}}}}}:\quad {shape(B, n)}")
    return Equation(f"Batches are rows: a_{l} has one row per sample (B = {B}) and one column per unit",
                    rf"z_{{{l}}} = a_{{{l - 1}}} W_{{{l}}}^\top + b_{{{l}}}:\quad {shape(B, n_in)}\,{shape(n_in, n)}"
                    rf" + ({n},) = {shape(B, n)},\quad a_{{{l}}} = \phi(z_{{{l}}}):\ {shape(B, n)}")


def _activation(t: Trace, l: int, r: int, i: int) -> list[Equation]:
    """z_l[r,i] = Σ_j a_{l-1}[r,j] W_l[i,j] + b_l[i], then a_l[r,i] = φ(z_l[r,i])."""
    lt = t.layers[l - 1]
    pairs = list(zip(lt.input[r].tolist(), lt.weight[i].tolist(), strict=True))
    z, a, b = lt.z[r, i].item(), lt.a[r, i].item(), lt.bias[i].item()
    eqs = [Equation(f"Row {r} of a_{l - 1} times row {i} of W_{l}, plus b_{l}[{i}]",
                    rf"z_{{{l}}}[{r},{i}] = \sum_j a_{{{l - 1}}}[{r},j]\, W_{{{l}}}[{i},j] + b_{{{l}}}[{i}] = "
                    rf"{products_tex(pairs, 'inputs')} + {tex_number(b)} = {tex_number(z)}")]
    eqs.append(Equation(f"then the activation ({lt.activation})",
                        rf"a_{{{l}}}[{r},{i}] = \phi(z_{{{l}}}[{r},{i}]) = \phi({tex_number(z)}) = {tex_number(a)}"
                        if lt.activation != "softmax" else
                        rf"a_{{{l}}}[{r},{i}] = \frac{{e^{{z[{r},{i}]}}}}{{\sum_j e^{{z[{r},j]}}}} = {tex_number(a)}"))
    return eqs


def _delta(t: Trace, l: int, r: int, i: int) -> list[Equation]:
    """δ_l[r,i]: from the loss at the output layer, from the layer above otherwise, times φ′_l(z_l[r,i])."""
    lt = t.layers[l - 1]
    g, d = lt.grads["a"].manual[r, i].item(), lt.grads["z"].manual[r, i].item()
    if l == len(t.layers):
        eqs, fused = _output_grad(t, r, i)
        if fused:
            return eqs
    else:
        above = t.layers[l]
        pairs = list(zip(above.grads["z"].manual[r].tolist(), above.weight[:, i].tolist(), strict=True))
        eqs = [Equation(f"What layer {l} receives from layer {l + 1}: row {r} of δ_{l + 1} times column {i} of "
                        f"W_{l + 1} (∂L/∂a_{l} = δ_{l + 1} W_{l + 1})",
                        rf"\frac{{\partial L}}{{\partial a_{{{l}}}[{r},{i}]}} = \sum_q \delta_{{{l + 1}}}[{r},q]\, "
                        rf"W_{{{l + 1}}}[q,{i}] = {products_tex(pairs, 'units')} = {tex_number(g)}")]
    act = ACTIVATIONS[lt.activation]
    if not act.elementwise:  # softmax: the whole row's Jacobian, not one slope
        eqs.append(Equation("through softmax's Jacobian (the whole row r)",
                            rf"\delta_{{{l}}}[{r},{i}] = a_i\Big(g_i - \sum_j g_j a_j\Big) = {tex_number(d)}"))
        return eqs
    slope = act.derivative(lt.z[r:r + 1, i:i + 1]).item()
    eqs.append(Equation(f"times the slope of the activation ({lt.activation}) at z_{l}[{r},{i}] = "
                        f"{lt.z[r, i].item():.4g}",
                        rf"\delta_{{{l}}}[{r},{i}] = \frac{{\partial L}}{{\partial a_{{{l}}}[{r},{i}]}}\cdot "
                        rf"\phi'(z_{{{l}}}[{r},{i}]) = {tex_number(g)}\cdot{tex_number(slope)} = {tex_number(d)}"))
    return eqs


def _output_grad(t: Trace, r: int, i: int) -> tuple[list[Equation], bool]:
    """∂L/∂a_L[r,i] from the loss (mean reduction), or δ_L[r,i] directly where the loss fuses with the output's
    activation; (equations, fused)."""
    L, lt, spec = len(t.layers), t.layers[-1], t.spec
    B, k = lt.a.shape
    loss = LOSSES[spec.loss]
    g, d, a = lt.grads["a"].manual[r, i].item(), lt.grads["z"].manual[r, i].item(), lt.a[r, i].item()
    if spec.loss == "cross_entropy":  # logits a_L = z_L; δ = (softmax(z) − onehot(y)) / B
        p, hot = softmax(lt.z[r:r + 1])[0, i].item(), int(t.y[r].item() == i)
        return [Equation(f"Softmax and cross-entropy fused, mean over B = {B} rows (y[{r}] = {int(t.y[r])})",
                         rf"\delta_{{{L}}}[{r},{i}] = \frac{{\mathrm{{softmax}}(z_{{{L}}}[{r}])_{{{i}}} - "
                         rf"\mathrm{{onehot}}(y_{{{r}}})_{{{i}}}}}{{{B}}} = \frac{{{tex_number(p)} - {hot}}}{{{B}}} "
                         rf"= {tex_number(d)}")], True
    y = t.y[r, i].item()
    if spec.loss == "bce" and lt.activation == loss.output:  # σ′ cancels the 1/(a(1 − a))
        return [Equation(f"Sigmoid and BCE fused, mean over B·k = {B * k} outputs",
                         rf"\delta_{{{L}}}[{r},{i}] = \frac{{a - y}}{{{B * k}}} = "
                         rf"\frac{{{tex_number(a)} - {tex_number(y)}}}{{{B * k}}} = {tex_number(d)}")], True
    if spec.loss == "mse":
        tex = (rf"\frac{{\partial L}}{{\partial a_{{{L}}}[{r},{i}]}} = \frac{{2(a - y)}}{{{B * k}}} = "
               rf"\frac{{2({tex_number(a)} - {tex_number(y)})}}{{{B * k}}} = {tex_number(g)}")
        caption = f"The loss's derivative: L is the mean over B·k = {B * k} outputs of (a − y)²"
    else:  # sum (L = Σ a), or bce on another activation: read from the trace
        tex = rf"\frac{{\partial L}}{{\partial a_{{{L}}}[{r},{i}]}} = {tex_number(g)}"
        caption = f"The loss's derivative ({spec.loss}: {loss.reduction_caption})"
    return [Equation(caption, tex)], False


def _bias(t: Trace, l: int, i: int) -> Equation:
    """∂L/∂b_l[i] = Σ_r δ_l[r,i]: b_l[i] is added to every row's z, so each row's error counts once."""
    lt = t.layers[l - 1]
    deltas = lt.grads["z"].manual[:, i].tolist()
    shown = " + ".join(tex_number(v) for v in deltas[:MAX_TERMS]) + (r" + \dots" if len(deltas) > MAX_TERMS else "")
    return Equation(f"b_{l}[{i}] is added to z_{l}[r,{i}] of every row r, so each row's δ counts once",
                    rf"\frac{{\partial L}}{{\partial b_{{{l}}}[{i}]}} = \sum_r \delta_{{{l}}}[r,{i}] = {shown} = "
                    rf"{tex_number(lt.grads['bias'].manual[i].item())}")
