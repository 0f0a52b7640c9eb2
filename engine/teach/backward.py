"""The backward frames: ∂L/∂a_L, then from the top layer down δ_l, ∂L/∂θ_l per parameter, ∂L/∂a_s … ∂L/∂x.

Linear layer l fed by a_s (B, p), δ_l (B, o): δ_l = ∂L/∂a_l ⊙ φ'_l(z_l); ∂L/∂W_l = δ_lᵀ a_s (o, p) = (o, B)(B, p);
∂L/∂b_l = Σ_rows δ_l (o,); ∂L/∂a_s = δ_l W_l (B, p) = (B, o)(o, p). A residual block sends δ_l straight to its
last inner layer (∂L/∂a of it is δ_l) and adds the skip: ∂L/∂a_s = δ_l + the inner path's ∂L/∂a_s.
"""
from __future__ import annotations

from engine.core.ops import LOSSES
from engine.inspector.equations import loss_equation, shape
from engine.inspector.trace import LayerTrace
from engine.teach import numbers as nb
from engine.teach.builder import Builder, a, children, d, plain


def backward_frames(b: Builder) -> None:
    last = b.t.layers[-1]
    g = last.grads["a"].manual
    b.add(phase="backward", quantity="grad_a", symbol=d(a(last.index)), title=f"∂L/∂a{last.index}, from the loss",
          layer=last.index, param=None, value=g, nodes=(len(b.t.layers),), edges=(), uses=(a(last.index), "y"),
          caption="Backward starts at the loss: how L changes with each output.",
          equation=rf"{loss_equation(b.t.spec).latex} \quad {shape(*g.shape)}", numbers=b.tensor(d(a(last.index)), g))
    for lt in reversed(b.t.layers):
        _layer(b, lt, inner_path=False)


def _layer(b: Builder, lt: LayerTrace, inner_path: bool) -> None:
    l, col = lt.index, b.column[lt.index]
    eqs, nf = b.equations(lt)
    b.add(phase="backward", quantity="delta", symbol=rf"\delta_{{{l}}}", title=f"δ{l} = ∂L/∂z{l}", layer=l,
          param=None, value=lt.grads["z"].manual, nodes=(col,), edges=(), uses=(d(a(l)), f"z_{{{l}}}"),
          caption=eqs[nf + 1].caption, equation=eqs[nf + 1].latex, numbers=_delta_numbers(b, lt))
    kids = children(lt)
    if kids:  # the sum z = a_s + f(a_s) passes δ_l unchanged into f's last layer
        k = kids[-1].index
        b.add(phase="backward", quantity="grad_a", symbol=d(a(k)), title=f"∂L/∂a{k} = δ{l}, into the block",
              layer=k, param=None, value=kids[-1].grads["a"].manual, nodes=(col,), edges=(), uses=(rf"\delta_{{{l}}}",),
              caption=f"The block's sum z{l} = a + f(a) passes δ{l} unchanged to its last inner layer.",
              equation=rf"{d(a(k))} = \delta_{{{l}}}", numbers=b.tensor(d(a(k)), kids[-1].grads["a"].manual))
        for child in reversed(kids):
            _layer(b, child, inner_path=child is kids[0])
    for name, sym in b.param_symbols(lt).items():
        _param(b, lt, name, sym)
    _grad_input(b, lt, inner_path)


def _delta_numbers(b: Builder, lt: LayerTrace) -> str:
    """δ_l = ∂L/∂a_l ⊙ φ'(z_l) element by element, or δ_l alone where the output fuses it (softmax + CE,
    sigmoid + BCE) or the activation is not element-wise (softmax)."""
    l, act, loss = lt.index, lt.layer.activation, LOSSES[b.t.spec.loss]
    delta, ga = lt.grads["z"].manual, lt.grads["a"].manual
    fused = lt is b.t.layers[-1] and loss.fused is not None and act.name == loss.output
    if fused or not act.elementwise:
        return b.tensor(rf"\delta_{{{l}}}", delta)
    slope = act.derivative(lt.z)  # φ'(z_l), the factor the manual pass multiplied by
    if nb.is_small(delta):
        return nb.lines(rf"\delta_{{{l}}}", rf"{d(a(l))} \odot \phi_{{{l}}}'(z_{{{l}}})",
                        rf"{nb.matrix(ga)} \odot {nb.matrix(slope)}", nb.matrix(delta))
    k = b.at(delta)
    at = nb.where(k)
    return nb.lines(rf"\delta_{{{l}}}{at}", rf"{d(a(l))}{at}\, \phi_{{{l}}}'(z_{{{l}}}{at})",
                    rf"{nb.number(ga[k])} \cdot {nb.number(slope[k])}", nb.number(delta[k]))


def _param(b: Builder, lt: LayerTrace, name: str, sym: str) -> None:
    l, col, s = lt.index, b.column[lt.index], b.source[lt.index]
    g, delta, x = lt.grads[name].manual, lt.grads["z"].manual, lt.input
    dense = lt.layer.connections(lt.params) is not None
    if dense and name == "weight":  # ∂L/∂W_l = δ_lᵀ a_s, one product per batch row
        if nb.is_small(delta, x, g):
            numbers = nb.lines(d(sym), rf"\delta_{{{l}}}^\top a_{{{s}}}", rf"{nb.matrix(delta.T)}\, {nb.matrix(x)}",
                               nb.matrix(g))
        else:
            i, j = nb.clamp((b.sel.unit, b.sel.col), g.shape)
            pairs = list(zip(delta[:, i].tolist(), x[:, j].tolist(), strict=True))
            numbers = nb.lines(f"{d(sym)}[{i},{j}]", rf"\sum_r \delta_{{{l}}}[r,{i}]\, a_{{{s}}}[r,{j}]",
                               nb.products(pairs, "rows"), nb.number(g[i, j]))
        where = dict(nodes=(), edges=(col,), uses=(rf"\delta_{{{l}}}", a(s)))
    elif dense and g.dim() == 1:  # ∂L/∂b_l = Σ_rows δ_l
        if nb.is_small(delta, g):
            rows = " + ".join(nb.matrix(row) for row in delta)
            numbers = nb.lines(d(sym), rf"\sum_r \delta_{{{l}}}[r,:]", rows, nb.matrix(g))
        else:
            (i,) = nb.clamp((b.sel.unit,), g.shape)
            numbers = nb.lines(f"{d(sym)}[{i}]", rf"\sum_r \delta_{{{l}}}[r,{i}]", nb.terms(delta[:, i].tolist()),
                               nb.number(g[i]))
        where = dict(nodes=(col,), edges=(), uses=(rf"\delta_{{{l}}}",))
    else:
        numbers = b.tensor(d(sym), g)
        where = dict(nodes=(col,), edges=(), uses=(rf"\delta_{{{l}}}", a(s)))
    line = b.line_with(lt, sym)
    b.add(phase="backward", quantity="grad_param", symbol=d(sym), title=f"∂L/∂{plain(sym)}, layer {l}'s {name}",
          layer=l, param=name, value=g, caption=line.caption, equation=line.latex, numbers=numbers, **where)


def _grad_input(b: Builder, lt: LayerTrace, inner_path: bool) -> None:
    l, col, s = lt.index, b.column[lt.index], b.source[lt.index]
    g, delta = lt.grads["input"].manual, lt.grads["z"].manual
    lhs = d(a(s))
    w, kids = lt.layer.connections(lt.params), children(lt)
    if w is not None:  # ∂L/∂a_s = δ_l W_l
        if nb.is_small(delta, w, g):
            numbers = nb.lines(lhs, rf"\delta_{{{l}}} W_{{{l}}}", rf"{nb.matrix(delta)}\, {nb.matrix(w)}", nb.matrix(g))
        else:
            r, j = nb.clamp((b.sel.row, b.sel.col), g.shape)
            pairs = list(zip(delta[r].tolist(), w[:, j].tolist(), strict=True))
            numbers = nb.lines(f"{lhs}[{r},{j}]", rf"\sum_i \delta_{{{l}}}[{r},i]\, W_{{{l}}}[i,{j}]",
                               nb.products(pairs, "units"), nb.number(g[r, j]))
    else:
        through = [(rf"\text{{through }} f_{{{l}}}", kids[0].grads["input"].manual)] if kids else []
        numbers = b.elementwise(lhs, g, [(rf"\delta_{{{l}}}", delta)] + through)
    name = "x" if s == 0 else f"a{s}"
    title = (f"∂L/∂{name} through the block's inner layers" if inner_path else
             "∂L/∂x, the gradient with respect to the input" if s == 0 else f"∂L/∂{name}, sent down to layer {s}")
    line = b.line_with(lt, a(s))
    b.add(phase="backward", quantity="grad_input", symbol=lhs, title=title, layer=l, param=None, value=g,
          nodes=(b.column.get(s, 0),), edges=(col,), uses=(rf"\delta_{{{l}}}",) + ((f"W_{{{l}}}",) if w is not None
                                                                                    else ()),
          caption=line.caption, equation=line.latex, numbers=numbers)
