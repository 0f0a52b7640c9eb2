"""LaTeX with a network's actual numbers: whole matrices for small tensors, one element term by term for
large ones. Every number written is read from the tensors handed in (the trace's), never recomputed a
different way; a product a·b shown in a sum is the product of the two numbers shown beside it.
"""
from __future__ import annotations

import torch

from engine.inspector.equations import MAX_TERMS, products_tex, tex_number

SMALL = 4  # a tensor with at most 4 rows and 4 columns is written out whole
DIGITS = 4  # significant digits of each number written
PER_LINE = 3  # terms of a sum to a line


def number(v: float, brackets: bool = True) -> str:
    """4 significant digits; a negative number in parentheses inside sums and products (equations.tex_number),
    bare in a matrix (brackets=False)."""
    return tex_number(float(v)) if brackets else f"{float(v) + 0.0:.{DIGITS}g}"  # + 0.0: −0.0 prints as 0


def is_small(*tensors: torch.Tensor) -> bool:
    """Every tensor has at most SMALL rows and SMALL columns (a vector counts as one row)."""
    return all(t.dim() <= 2 and all(d <= SMALL for d in t.shape) for t in tensors)


def matrix(t: torch.Tensor) -> str:
    r"""\begin{bmatrix}…\end{bmatrix} of a 2-D tensor; a vector (n,) is written as one row, a scalar bare."""
    if t.dim() == 0:
        return number(t.item(), brackets=False)
    rows = t.reshape(1, -1) if t.dim() == 1 else t
    body = r" \\ ".join(" & ".join(number(v, brackets=False) for v in row) for row in rows.tolist())
    return rf"\begin{{bmatrix}} {body} \end{{bmatrix}}"


def products(pairs: list[tuple[float, float]], unit: str) -> str:
    r"""equations.products_tex's 'p₀·q₀ + p₁·q₁ + … (n more {unit})', PER_LINE terms to a line inside `lines`."""
    return _wrap(products_tex(pairs, unit).split(" + "))


def terms(values: list[float]) -> str:
    """'v₀ + v₁ + …' of the first MAX_TERMS values, and how many more were summed."""
    return _wrap([number(v) for v in values[:MAX_TERMS]]) + _more(len(values))


def _wrap(parts: list[str]) -> str:
    return r" \\ &\quad + ".join(" + ".join(parts[k:k + PER_LINE]) for k in range(0, len(parts), PER_LINE))


def lines(lhs: str, *rhs: str) -> str:
    r"""lhs = rhs₁ = rhs₂ = …, one right-hand side per line aligned at '=', so that wide matrices and long
    sums stay on the page: \begin{aligned} lhs &= rhs₁ \\ &= rhs₂ … \end{aligned}."""
    body = r" \\ &= ".join(rhs)
    return rf"\begin{{aligned}} {lhs} &= {body} \end{{aligned}}"


def _more(n: int) -> str:
    return rf" + \dots\ (\text{{{n - MAX_TERMS} more rows}})" if n > MAX_TERMS else ""


def clamp(index: tuple[int, ...], shape: torch.Size) -> tuple[int, ...]:
    """An index moved inside shape (a selection made on a wider layer still names an element here)."""
    return tuple(min(max(i, 0), n - 1) for i, n in zip(index, shape, strict=True))


def where(index: tuple[int, ...]) -> str:
    """[r,i] — an element's index as written after its name (nothing for a scalar)."""
    return f"[{','.join(map(str, index))}]" if index else ""
