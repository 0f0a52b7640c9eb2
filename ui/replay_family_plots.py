"""Figures for Compare's replay family view: a branch as a fork of its parent's loss curve, and one health
statistic as layers × steps small multiples across runs on one shared colour scale (click a cell: replay there)."""
from __future__ import annotations

import html

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from engine.train.health_map import HealthMap
from ui.axes import honest_axes
from ui.replay_plots import TITLES, heat_values, log_ticks, zero_floor

MAX_CLICK_COLUMNS = 150  # click targets per layer row (cells between them jump to the nearest)


@honest_axes
def fork_figure(curves: dict[str, tuple[list, list]], names: dict[str, str], colors: dict[str, str],
                lineage: dict[str, tuple[str | None, int | None]]) -> go.Figure:
    """Each run's loss against step; a branch's curve starts on its parent's drawn line at the branch step
    (the parent's loss there, interpolated between its logged steps as the line is drawn), marked ◆."""
    fig = go.Figure()
    for run_id, (steps, losses) in curves.items():
        parent, at = lineage.get(run_id, (None, None))
        xs, ys = list(steps), list(losses)
        if parent in curves and at is not None and curves[parent][0]:
            px, py = curves[parent]
            xs, ys = [at] + xs, [float(np.interp(at, px, py))] + ys
            fig.add_trace(go.Scatter(x=[xs[0]], y=[ys[0]], mode="markers", showlegend=False, hoverinfo="text",
                                     hovertext=f"{html.escape(names[run_id])} branched at step {at}",
                                     marker={"symbol": "diamond", "size": 11, "color": colors.get(run_id),
                                             "showscale": False}))
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name=html.escape(names[run_id]),
                                 line={"color": colors.get(run_id)}, hovertemplate="%{data.name}<br>step %{x}: "
                                 "%{y:.4g}<extra></extra>"))
    fig.update_layout(title="The run's family: each branch leaves its parent's curve at its branch step (◆)",
                      height=330, margin={"t": 50, "b": 30}, legend={"orientation": "h", "y": -0.25})
    return fig.update_xaxes(title="step").update_yaxes(title="train loss")


def _click_words(stride: int) -> str:
    """What a click does: every column is a target, or (many steps) every stride-th drawn column, the nearest."""
    if stride == 1:
        return "click a cell to replay that step"
    return f"click: replay the nearest target (1 column in {stride}; hover shows its step)"


def _cell_edges(steps: list[int]) -> tuple[float, float]:
    """Where a heatmap over these steps starts and ends: half a gap before the first and after the last."""
    if len(steps) < 2:
        return steps[0] - 0.5, steps[-1] + 0.5
    return steps[0] - (steps[1] - steps[0]) / 2, steps[-1] + (steps[-1] - steps[-2]) / 2


def _shared_range(key: str, zs: list[np.ndarray], kw: dict) -> tuple[float, float]:
    """One colour range for every run: the statistic's fixed one, or the data's over all runs."""
    if "zmin" in kw:
        return kw["zmin"], kw["zmax"]
    finite = np.concatenate([z[np.isfinite(z)] for z in zs]) if zs else np.array([])
    return (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)


@honest_axes
def health_multiples_figure(key: str, maps: dict[str, HealthMap], names: dict[str, str]) -> go.Figure:
    """Per run (rows of panels) its layers × steps map of `key`, all on one colour axis (same colour = same
    value in every run). Invisible markers on the cells carry (run_id, step) for click-to-replay."""
    runs = list(maps)
    fig = make_subplots(rows=len(runs), cols=1, shared_xaxes=True, vertical_spacing=min(0.08, 0.3 / len(runs)),
                        subplot_titles=[html.escape(names[r]) for r in runs])
    zs, kw, stride = [], {}, 1
    zero_at = zero_floor([m.values for m in maps.values()])  # one place for a 0 norm in every run
    for r, run_id in enumerate(runs, start=1):
        m = maps[run_id]
        z, kw = heat_values(key, m.values, zero_at)
        zs.append(z)
        rows = [f"layer {v}" for v in m.layers]
        # the raw value on hover as text: customdata here is reserved for the click targets' (run, step)
        fig.add_trace(go.Heatmap(x=m.steps, y=rows, z=z.tolist(), coloraxis="coloraxis",
                                 hovertext=[[f"{v:.3g}" for v in row] for row in m.values.tolist()],
                                 hovertemplate="step %{x}, %{y}: %{hovertext}<extra></extra>"), row=r, col=1)
        every = max(1, -(-len(m.steps) // MAX_CLICK_COLUMNS))  # ⌈columns / MAX_CLICK_COLUMNS⌉
        cols, stride = m.steps[::every], max(stride, every)
        fig.add_trace(go.Scatter(x=[s for s in cols for _ in rows], y=[y for _ in cols for y in rows],
                                 mode="markers", showlegend=False,
                                 marker={"size": 14, "symbol": "square", "opacity": 0, "showscale": False},
                                 customdata=[[run_id, s] for s in cols for _ in rows],
                                 hovertemplate="click: replay at step %{x}<extra></extra>"), row=r, col=1)
    lo, hi = _shared_range(key, zs, kw)
    unit = "log₁₀(ratio / 1e-3)" if key == "update_ratio" else "‖∂L/∂W‖" if key == "grad_norm" else "fraction"
    ticks = log_ticks(np.concatenate([z.ravel() for z in zs]), zero_at) if key == "grad_norm" and zs else {}
    fig.update_layout(coloraxis={"colorscale": kw.get("colorscale", "Viridis"), "cmin": lo, "cmax": hi,
                                 "colorbar": {"title": unit, **ticks}},
                      title=f"{TITLES[key]} — every run on one colour scale; " + _click_words(stride),
                      height=110 * len(runs) + 110, margin={"t": 70, "l": 70}, clickmode="event+select")
    edges = [_cell_edges(m.steps) for m in maps.values()]  # the click markers would pad the range beyond them
    fig.update_xaxes(range=[min(e[0] for e in edges), max(e[1] for e in edges)])
    return fig.update_xaxes(title="step", row=len(runs), col=1)
