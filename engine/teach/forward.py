"""The forward frames — x; per layer z_l then a_l (a block's inner layers before its sum) — and the loss.

Linear layer l fed by a_s (B, p): z_l = a_s W_lᵀ + b_l (B, o) = (B, p)(p, o) + (o,);  a_l = φ_l(z_l) (B, o).
"""
from __future__ import annotations

import torch

from engine.inspector.equations import loss_equation, shape
from engine.inspector.trace import LayerTrace
from engine.teach import numbers as nb
from engine.teach.builder import Builder, a, children, roman

# the kinds' own forward values (LayerTrace.values) by the symbols their LaTeX uses
VALUE_SYMBOLS = {"mean": r"\mu", "var": r"\sigma^2", "x_hat": r"\hat x", "mask": "m"}


def forward_frames(b: Builder) -> None:
    x = b.t.x
    b.add(phase="forward", quantity="x", symbol=r"a_{0} = x", title="the input x = a₀", layer=None, param=None,
          value=x, nodes=(0,), edges=(), uses=(),
          caption=f"The batch goes in: {b.B} rows (samples) of {x.shape[1]} features each.",
          equation=rf"a_{{0}} = x \quad {shape(*x.shape)}", numbers=b.tensor("x", x))
    src = 0
    for column, lt in enumerate(b.t.layers, start=1):
        _layer(b, lt, src, column)
        src = lt.index


def _layer(b: Builder, lt: LayerTrace, src: int, column: int) -> None:
    l = lt.index
    b.column[l], b.source[l] = column, src
    inner = src
    for child in children(lt):  # f(a_s) first: the block's sum needs it
        _layer(b, child, inner, column)
        inner = child.index
    eqs, nf = b.equations(lt)
    uses = (a(src), *b.param_symbols(lt).values()) + ((a(inner),) if children(lt) else ())
    b.add(phase="forward", quantity="z", symbol=f"z_{{{l}}}", title=f"z{l}, layer {l}'s pre-activation",
          layer=l, param=None, value=lt.z, nodes=(column,), edges=(column,), uses=uses, caption=eqs[0].caption,
          equation=r" \\ ".join(e.latex for e in eqs[:nf]), numbers=_z_numbers(b, lt))
    phi = roman(lt.layer.activation.name)
    if nb.is_small(lt.z):
        numbers = nb.lines(f"a_{{{l}}}", rf"{phi}\left({nb.matrix(lt.z)}\right)", nb.matrix(lt.a))
    else:
        k = b.at(lt.z)
        numbers = (rf"a_{{{l}}}{nb.where(k)} = {phi}(z_{{{l}}}{nb.where(k)}) = {phi}({nb.number(lt.z[k])}) = "
                   rf"{nb.number(lt.a[k])}")
    b.add(phase="forward", quantity="a", symbol=f"a_{{{l}}}", title=f"a{l}, layer {l}'s activation", layer=l,
          param=None, value=lt.a, nodes=(column,), edges=(), uses=(f"z_{{{l}}}",), caption=eqs[nf].caption,
          equation=eqs[nf].latex, numbers=numbers)


def _z_numbers(b: Builder, lt: LayerTrace) -> str:
    """z_l = a_s W_lᵀ + b_l with the numbers (a dense kind), else z_l beside what it is computed from."""
    l, s, x, z = lt.index, b.source[lt.index], lt.input, lt.z
    w = lt.layer.connections(lt.params)
    if w is None:
        kids = children(lt)
        inner = [(rf"f_{{{l}}}(a_{{{s}}}) = {a(kids[-1].index)}", kids[-1].a)] if kids else []
        values = [(VALUE_SYMBOLS.get(k, roman(k)) + f"_{{{l}}}", v) for k, v in getattr(lt, "values", {}).items()]
        params = [(sym, lt.params[name]) for name, sym in b.param_symbols(lt).items()]
        return b.elementwise(f"z_{{{l}}}", z, [(a(s), x)] + inner + values + params)
    bias = lt.params.get("bias")
    if nb.is_small(x, w, z):
        plus = (rf" + b_{{{l}}}", rf" + {nb.matrix(bias)}") if bias is not None else ("", "")
        return nb.lines(f"z_{{{l}}}", rf"a_{{{s}}} W_{{{l}}}^\top{plus[0]}",
                        rf"{nb.matrix(x)}\, {nb.matrix(w.T)}{plus[1]}", nb.matrix(z))
    r, i = b.at(z)
    plus = (rf" + b_{{{l}}}[{i}]", rf" + {nb.number(bias[i])}") if bias is not None else ("", "")
    pairs = list(zip(x[r].tolist(), w[i].tolist(), strict=True))
    return nb.lines(f"z_{{{l}}}[{r},{i}]", rf"\sum_j a_{{{s}}}[{r},j]\, W_{{{l}}}[{i},j]{plus[0]}",
                    f"{nb.products(pairs, 'inputs')}{plus[1]}", nb.number(z[r, i]))


def loss_frame(b: Builder) -> None:
    t, last = b.t, b.t.layers[-1]
    eq = loss_equation(t.spec)
    out = nb.matrix(last.a) if nb.is_small(last.a) else a(last.index)
    y = nb.matrix(t.y) if nb.is_small(t.y) else "y"
    b.add(phase="loss", quantity="loss", symbol="L", title=f"L = {t.spec.loss}(a{last.index}, y)", layer=None,
          param=None, value=torch.tensor(t.loss, dtype=last.a.dtype), nodes=(len(t.layers),), edges=(),
          uses=(a(last.index), "y"), caption=eq.caption, equation=eq.latex,
          numbers=rf"L = {roman(t.spec.loss)}\left({out},\ {y}\right) = {nb.number(t.loss)}")
