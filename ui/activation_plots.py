"""Figures for the Activations page: φ and φ' hand-written against torch, with dead/saturated regions shaded."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from engine.lessons.activations import ActivationCurve, SoftmaxCurve
from ui.axes import honest_axes

REGION_STYLE = {  # fill colour and legend text per region kind
    "dead": ("rgba(214, 39, 40, 0.15)", "dead: φ' = 0, no gradient"),
    "saturated": ("rgba(255, 127, 14, 0.18)", "saturated: |φ'| < threshold"),
}


def _layout(fig: go.Figure, title: str, height: int = 380) -> go.Figure:
    fig.update_layout(title=title, xaxis_title="z", height=height, margin=dict(l=10, r=10, t=50, b=10),
                      legend=dict(orientation="h", y=-0.2), hovermode="x unified")
    return fig


def _typed(values) -> np.ndarray:
    """A tensor or array as a contiguous float64 numpy array (exact: the grid is float64)."""
    return np.ascontiguousarray(np.asarray(values, dtype=np.float64))


def _even(z) -> dict:
    """x of an evenly spaced grid as Plotly's x0 and dx: nothing to send per point (the grid of
    engine.lessons.activations.grid, step (hi − lo)/(n − 1), is even to ~1e-16)."""
    z = _typed(z)
    return {"x0": float(z[0]), "dx": float(z[-1] - z[0]) / (len(z) - 1)}


@honest_axes
def activation_figure(curve: ActivationCurve) -> go.Figure:
    """φ(z) and φ'(z): ours as solid lines, torch (and autograd) dotted on top; regions as shaded bands.
    Curves go as float64 numpy arrays (base64 typed arrays in the JSON) over the evenly spaced grid as x0 + i·dx."""
    z = _even(curve.z)
    fig = go.Figure()
    for y, name, color, dash, width in (
        (curve.phi, "φ(z) hand-written", "#1f77b4", "solid", 3),
        (curve.torch_phi, "φ(z) torch", "#9ecae1", "dot", 2),
        (curve.dphi, "φ'(z) hand-written", "#d62728", "solid", 3),
        (curve.torch_dphi, "φ'(z) torch autograd", "#fcbba1", "dot", 2),
    ):
        fig.add_trace(go.Scatter(**z, y=_typed(y), mode="lines", name=name,
                                 line=dict(color=color, dash=dash, width=width)))
    seen = set()
    for region in curve.regions:
        color, text = REGION_STYLE[region.kind]
        fig.add_vrect(x0=region.lo, x1=region.hi, fillcolor=color, line_width=0, layer="below")
        if region.kind not in seen:  # a legend entry per kind, not per band
            seen.add(region.kind)
            fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=text,
                                     marker=dict(symbol="square", size=12, color=color)))
    return _layout(fig, f"{curve.name}: φ(z) and φ'(z)")


@honest_axes
def softmax_figure(curve: SoftmaxCurve) -> go.Figure:
    """Outputs a_j of softmax(z, z₂, z₃) and the Jacobian column ∂a_j/∂z₁: ours solid/dashed, torch dotted."""
    z = _even(curve.z)
    fig = go.Figure()
    colors = ("#1f77b4", "#2ca02c", "#9467bd")
    for j in range(3):
        fig.add_trace(go.Scatter(**z, y=_typed(curve.a[:, j]), mode="lines", name=f"a{j + 1} = softmax(z){j + 1}",
                                 line=dict(color=colors[j], width=3)))
    for j in range(3):
        label = "∂a₁/∂z₁ = a₁(1 − a₁)" if j == 0 else f"∂a{j + 1}/∂z₁ = −a{j + 1}a₁"
        fig.add_trace(go.Scatter(**z, y=_typed(curve.jac_col[:, j]), mode="lines", name=label,
                                 line=dict(color=colors[j], width=2, dash="dash")))
        fig.add_trace(go.Scatter(**z, y=_typed(curve.torch_jac_col[:, j]), mode="lines",
                                 name="torch autograd ∂a_j/∂z₁ (dotted)",
                                 line=dict(color="#bbbbbb", width=1, dash="dot"),
                                 showlegend=(j == 0), legendgroup="torch"))
    z2, z3 = curve.others
    return _layout(fig, f"softmax(z₁ = z, z₂ = {z2:g}, z₃ = {z3:g}): outputs (solid) and ∂a_j/∂z₁ (dashed)",
                   height=420)
