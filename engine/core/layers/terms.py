"""One element of ∂L/∂a_{l-1} written out with a trace's numbers (the Math tab's term-by-term view for the
kinds that are not a dense map), and the derivation through μ and σ² that BatchNorm and LayerNorm share.

Both normalisations are the same algebra along one axis of N numbers (BatchNorm: feature j's column over the
B rows; LayerNorm: row r's n features). With g = ∂L/∂x̂ along that axis (N,), x the layer's input there, μ, σ²
its mean and biased variance, σ = √(σ² + ε):
  ∂L/∂σ² = −½ Σ g ⊙ (x − μ) σ⁻³;  ∂L/∂μ = −Σ g / σ   (the ∂σ²/∂μ term sums (x − μ) to 0);
  ∂L/∂x[k] = g[k]/σ + ∂L/∂σ² · 2(x[k] − μ)/N + ∂L/∂μ / N     (the three paths from x[k])
           = (1/(N σ)) (N g[k] − Σ g − x̂[k] Σ (g ⊙ x̂))          (the compact form).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass
class ElementTerms:
    """∂L/∂a_{l-1}[r, j] for one element: the derivation's lines with numbers, and the numbers themselves."""

    lines: list[tuple[str, str]]  # (caption, LaTeX), top to bottom
    numbers: dict[str, float]  # every intermediate shown, by name (dL_dvar, dL_dmu, path_xhat, …)
    total: float  # the element of ∂L/∂a_{l-1}, as the hand-written backward computes it


def tex_number(v: float) -> str:
    """A number as LaTeX: 4 significant digits, a negative one in parentheses (it follows · or +)."""
    v = v + 0.0  # −0.0 (a dead ReLU's δ times a negative input) prints as 0
    text = f"{v:.4g}"
    return f"({text})" if v < 0 else text


def aligned(lhs: str, *steps: str) -> str:
    """lhs = step₁ = step₂ = … one step a line, so that a long chain of numbers stays on the page."""
    return r"\begin{aligned} " + lhs + " &= " + r" \\ &= ".join(steps) + r" \end{aligned}"


@dataclass
class NormAxis:
    """The numbers of one normalisation axis (N of them) and the element k picked on it."""

    g: torch.Tensor  # ∂L/∂x̂ along the axis (N,)
    x: torch.Tensor  # the layer's input along the axis (N,)
    x_hat: torch.Tensor  # (N,)
    mean: float
    var: float
    eps: float
    k: int


def dxhat_line(caption: str, l: int, r: int, j: int, delta: float, gamma: float) -> tuple[str, str]:
    """∂L/∂x̂[r,j] = δ_l[r,j] γ_l[j] with numbers (both normalisations scale x̂ by γ per feature)."""
    return (caption, rf"\frac{{\partial L}}{{\partial \hat x[{r},{j}]}} = \delta_{{{l}}}[{r},{j}]\,"
                     rf"\gamma_{{{l}}}[{j}] = {tex_number(delta)}\cdot{tex_number(gamma)} = "
                     rf"{tex_number(delta * gamma)}")


def norm_paths(ax: NormAxis, elem: str, over: str, axis: str) -> tuple[list[tuple[str, str]], dict[str, float]]:
    """The derivation through σ² and μ down to the three paths, in numbers. `elem` names the element in LaTeX
    ("a_{1}[r,j]"), `over` the summed index ("r" or "j"), `axis` the axis in words. Returns the lines and
    {name: value}."""
    n, k = ax.g.numel(), ax.k
    s = math.sqrt(ax.var + ax.eps)
    dvar = (-0.5 * (ax.g * (ax.x - ax.mean)).sum() * s ** -3).item()
    dmu = (-ax.g.sum() / s).item()
    gk, xk = ax.g[k].item(), ax.x[k].item()
    paths = (gk / s, dvar * 2 * (xk - ax.mean) / n, dmu / n)
    compact = (n * gk - ax.g.sum().item() - ax.x_hat[k].item() * (ax.g * ax.x_hat).sum().item()) / (n * s)
    d = r"\frac{\partial L}{\partial "
    lines = [
        (f"The statistics of {axis} (σ = √(σ² + ε))",
         rf"\mu = {tex_number(ax.mean)},\ \sigma^2 = {tex_number(ax.var)},\ \sigma = {tex_number(s)},\ N = {n}"),
        (f"Through σ²: every element on the axis moves it (sum over {over})",
         rf"{d}\sigma^2}} = -\tfrac12 \sum_{over} {d}\hat x}}\,(x - \mu)\,\sigma^{{-3}} = {tex_number(dvar)}"),
        ("Through μ: every element moves it too",
         rf"{d}\mu}} = -\sum_{over} {d}\hat x}} / \sigma = {tex_number(dmu)}"),
        ("The three paths from this element: through its own x̂, through σ², through μ",
         aligned(f"{d}{elem}}}", rf"{d}\hat x{elem[elem.index('['):]}}}\Big/\sigma + {d}\sigma^2}}\,"
                 rf"\frac{{2(x - \mu)}}{{N}} + {d}\mu}}\Big/N",
                 rf"\frac{{{tex_number(gk)}}}{{{tex_number(s)}}} + {tex_number(dvar)}\cdot"
                 rf"\frac{{2\,{tex_number(xk - ax.mean)}}}{{{n}}} + \frac{{{tex_number(dmu)}}}{{{n}}}",
                 rf"{tex_number(paths[0])} + {tex_number(paths[1])} + {tex_number(paths[2])}", tex_number(sum(paths)))),
    ]
    numbers = {"mean": ax.mean, "var": ax.var, "sigma": s, "dL_dvar": dvar, "dL_dmu": dmu, "dL_dxhat": gk,
               "path_xhat": paths[0], "path_var": paths[1], "path_mu": paths[2], "compact": compact}
    return lines, numbers
