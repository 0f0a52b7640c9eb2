"""Figures for the Optimizers page: the 1-D cost with its descent steps, 2-D contours with trajectories.

Plain functions: engine results in, Plotly figure (or pandas table) out. No math beyond log10 for display.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from engine.lessons.surfaces import Descent1D, Surface, Trajectory
from ui.axes import honest_axes

COLORS = {"sgd": "#1f77b4", "momentum": "#ff7f0e", "nesterov": "#2ca02c", "adagrad": "#d62728",
          "rmsprop": "#9467bd", "adam": "#8c564b"}
LABELS = {"sgd": "SGD", "momentum": "Momentum (μ=0.9)", "nesterov": "Nesterov (μ=0.9)", "adagrad": "Adagrad",
          "rmsprop": "RMSprop", "adam": "Adam"}
MAX_ARROWS = 30  # beyond this the arrows pile up into a blur; the points still show every step


def _layout(fig: go.Figure, title: str, x: str, y: str, height: int = 380) -> go.Figure:
    fig.update_layout(title=title, xaxis_title=x, yaxis_title=y, height=height,
                      margin=dict(l=10, r=10, t=50, b=10), legend=dict(orientation="h", y=-0.2))
    return fig


@honest_axes
def cost_curve_figure(descent: Descent1D, curve: tuple[list[float], list[float]]) -> go.Figure:
    """J(θ) as a line, θ_t as numbered points on it, an arrow from each θ_{t-1} to θ_t."""
    thetas, costs = descent.thetas, descent.costs
    fig = go.Figure(go.Scatter(x=curve[0], y=curve[1], mode="lines", name="J(θ)", line=dict(color="#888")))
    fig.add_trace(go.Scatter(x=thetas, y=costs, mode="markers", name="θ_t",
                             marker=dict(size=8, color=list(range(len(thetas))), colorscale="Viridis"),
                             hovertemplate="t=%{text}<br>θ=%{x:.6g}<br>J=%{y:.6g}<extra></extra>",
                             text=list(range(len(thetas)))))
    fig.add_trace(go.Scatter(x=[1.0], y=[0.0], mode="markers", name="minimum θ = 1",
                             marker=dict(symbol="star", size=14, color="gold", line=dict(color="black", width=1))))
    fig.add_trace(step_arrows(thetas, costs))
    return _layout(fig, "Cost J(θ) and the gradient-descent steps", "θ", "J(θ)")


def step_arrows(xs: list[float], ys: list[float], color: str = "#d62728") -> go.Scatter:
    """The arrows θ_(t−1) → θ_t for t = 1 .. MAX_ARROWS as ONE trace: a line through (x_0, y_0) .. (x_A, y_A) is
    every arrow's shaft, and an arrowhead marker at each point t ≥ 1 turns to face the point before it
    (angleref "previous"), set back by the dots' radius so its tip touches θ_t's dot. Plotly draws one trace far
    faster than A arrow annotations (each its own SVG group and layout pass: 130 → 49 ms a draw in the app)."""
    a = min(len(xs) - 1, MAX_ARROWS)
    return go.Scatter(x=xs[: a + 1], y=ys[: a + 1], mode="lines+markers", name="steps θ_(t−1) → θ_t",
                      line=dict(color=color, width=1.5), hoverinfo="skip", showlegend=False,
                      marker=dict(symbol="arrow", angleref="previous", standoff=4, color=color,
                                  size=[0] + [11] * a))  # θ_0 has no step arriving at it: no head


@honest_axes
def cost_per_step_figure(descent: Descent1D) -> go.Figure:
    """J(θ_t) against t; log scale when every cost is positive (it falls geometrically when it converges)."""
    costs = descent.costs
    fig = go.Figure(go.Scatter(x=list(range(len(costs))), y=costs, mode="lines+markers", name="J(θ_t)"))
    _layout(fig, "Cost per iteration", "iteration t", "J(θ_t)")
    if all(c > 0 for c in costs):
        fig.update_yaxes(type="log")
    return fig


def _contour(surface: Surface, xs, ys, z) -> go.Contour:
    """Filled contours; on log10(f) when f spans many decades so the valleys are not one flat colour."""
    shown, title = np.asarray(z, dtype=np.float64), "f"
    if surface.log_levels:
        shown, title = np.log10(shown + 1e-3), "log₁₀(f + 0.001)"  # +1e-3: f = 0 at the minima
    # float32 typed arrays: Plotly sends them as base64 (4 bytes a value, not ~20 characters of JSON), ~5x less
    # to send and parse for the 140 x 140 grid; a colour needs nothing near float32's 7 digits (hover is off)
    return go.Contour(x=np.asarray(xs, dtype=np.float32), y=np.asarray(ys, dtype=np.float32),
                      z=shown.astype(np.float32), colorscale="Blues", reversescale=True, ncontours=30, opacity=0.8,
                      colorbar=dict(title=title, len=0.8), hoverinfo="skip", contours=dict(showlines=True),
                      showscale=True, name="f")


@honest_axes
def contour_figure(surface: Surface, xs, ys, z, trajectories: dict[str, Trajectory], step: int) -> go.Figure:
    """The surface with each optimizer's path θ_0 .. θ_step, the start and the known minima."""
    fig = go.Figure(_contour(surface, xs, ys, z))
    for name, traj in trajectories.items():
        pts = np.asarray(traj.points[: step + 1], dtype=np.float64).reshape(-1, 2)  # (t + 1, 2), typed arrays
        fig.add_trace(go.Scatter(x=pts[:, 0], y=pts[:, 1], mode="lines+markers",
                                 name=LABELS.get(name, name), line=dict(color=COLORS.get(name), width=2),
                                 marker=dict(size=4), hovertemplate=f"{LABELS.get(name, name)}<br>"
                                 "x=%{x:.4g}<br>y=%{y:.4g}<extra></extra>"))
    start = next(iter(trajectories.values())).points[0] if trajectories else None
    if start:
        fig.add_trace(go.Scatter(x=[start[0]], y=[start[1]], mode="markers", name="start",
                                 marker=dict(symbol="circle-open", size=14, color="black", line=dict(width=2))))
    if surface.minima:
        fig.add_trace(go.Scatter(x=[m[0] for m in surface.minima], y=[m[1] for m in surface.minima],
                                 mode="markers", name="minimum (f = 0)",
                                 marker=dict(symbol="star", size=15, color="gold", line=dict(color="black", width=1))))
    fig.update_xaxes(range=list(surface.x_range))
    fig.update_yaxes(range=list(surface.y_range))
    return _layout(fig, f"{surface.label}: paths up to step {step}", "x", "y", height=560)


@honest_axes
def loss_per_step_figure(trajectories: dict[str, Trajectory], step: int, log: bool) -> go.Figure:
    """f(θ_t) for t = 0 .. step, one line per optimizer."""
    fig = go.Figure()
    for name, traj in trajectories.items():
        losses = np.asarray(traj.losses[: step + 1], dtype=np.float64)  # a typed array; x defaults to 0, 1, …
        fig.add_trace(go.Scatter(y=losses, mode="lines", name=LABELS.get(name, name),
                                 line=dict(color=COLORS.get(name))))
    _layout(fig, "Loss per step", "step t", "f(θ_t)", height=560)
    positive = [v for t in trajectories.values() for v in t.losses[: step + 1] if v > 0]
    if log and positive:
        # below 1e-16 is float64 round-off around the minimum: cut there so the descent itself stays readable
        lo, hi = max(math.log10(min(positive)), -16.0), math.log10(max(positive))
        fig.update_yaxes(type="log", range=[lo - 0.5, hi + 0.5])
    return fig


TABLE_COLUMNS = {"lr": "%.4g", "x": "%.6g", "y": "%.6g", "f(x, y)": "%.5g"}


def table_column_config() -> dict:
    """Short number formats for `trajectory_table` in st.dataframe; the DataFrame keeps full precision."""
    return {col: st.column_config.NumberColumn(col, format=fmt) for col, fmt in TABLE_COLUMNS.items()}


def trajectory_table(trajectories: dict[str, Trajectory], step: int) -> pd.DataFrame:
    """One row per optimizer: lr, the point and loss at the shown step, and whether the run was stopped."""
    rows = []
    for name, traj in trajectories.items():
        (x, y), loss, t = traj.at(step)
        rows.append({"optimizer": LABELS.get(name, name), "lr": traj.lr, "step": t, "x": x, "y": y, "f(x, y)": loss,
                     "status": traj.reason or "ran every step"})
    return pd.DataFrame(rows)
