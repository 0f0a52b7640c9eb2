"""Figures of the replay view: loss with the step marked, per-unit maps, ∂ℓ/∂x arrows, health heatmaps."""
from __future__ import annotations

import html
import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from engine.train.health_map import HEATMAP_KEYS, HealthMap, log_ratio
from ui.axes import honest_axes
from ui.train_plots import data_scatter

TITLES = {"grad_norm": "‖∂L/∂W_l‖", "update_ratio": "update ratio ‖ΔW‖/‖W‖ (log₁₀ of ratio/1e-3)",
          "dead_fraction": "dead ReLU fraction", "saturated_fraction": "saturated fraction (φ' < 0.01)"}


@honest_axes
def loss_at_step_figure(steps: list[int], losses: list[float], step: int, branch_step: int | None = None) -> go.Figure:
    fig = go.Figure(go.Scatter(x=steps, y=losses, mode="lines", name="train loss"))
    fig.add_vline(x=step, line_dash="dot", annotation_text=f"t = {step}")
    if step in steps:  # the stored loss of step t itself, readable on hover
        fig.add_trace(go.Scatter(x=[step], y=[losses[steps.index(step)]], mode="markers", name="loss at t",
                                 marker={"size": 9, "color": "#dc2626"}, hovertemplate="step %{x}: loss %{y:.4g}"))
    if branch_step is not None:
        fig.add_vline(x=branch_step, line_color="#888", annotation_text="branched here")
    fig.update_layout(title="Loss; the replayed step marked", height=280, margin={"t": 40, "b": 30})
    return fig.update_xaxes(title="step").update_yaxes(title="loss")


@honest_axes
def neuron_maps_figure(maps, max_units: int = 8) -> go.Figure:
    """One small heatmap per unit (rows) and layer (columns): its output a_l over the input plane.

    One colour scale per layer, with its colour bar under the column: units of a layer are compared by colour
    (the same colour is the same a_l), white is 0 in every layer and the range is ±max|a_l| over that layer's
    drawn units (a ReLU layer uses the blue, positive half; tanh at most ±1). Layers get their own range because their
    outputs differ in size (logits can be far larger than hidden units)."""
    n_layers, n_rows = len(maps.layers), min(max_units, max(t.shape[0] for t in maps.layers))
    fig = make_subplots(rows=n_rows, cols=n_layers, horizontal_spacing=0.03, vertical_spacing=0.02,
                        column_titles=[f"layer {i + 1}" for i in range(n_layers)])
    for c, layer in enumerate(maps.layers, start=1):
        shown = layer[:n_rows].numpy()
        lim = float(np.abs(shown).max()) or 1.0
        axis = "coloraxis" if c == 1 else f"coloraxis{c}"
        for r, z in enumerate(shown):
            hover = f"layer {c} unit {r + 1}: %{{z:.3f}}<extra></extra>"
            fig.add_trace(go.Heatmap(x=maps.xs, y=maps.ys, z=z, zmin=-lim, zmax=lim, coloraxis=axis,
                                     hovertemplate=hover), row=r + 1, col=c)
        left, right = fig.layout[f"xaxis{c if c > 1 else ''}"].domain
        fig.update_layout({axis: {"colorscale": "RdBu", "cmin": -lim, "cmax": lim, "colorbar": {
            "orientation": "h", "x": (left + right) / 2, "xanchor": "center", "len": right - left,
            "y": 0, "yanchor": "top", "ypad": 4, "thickness": 10, "title": {"text": f"a_{c}", "side": "top"}}}})
    fig.update_xaxes(showticklabels=False).update_yaxes(showticklabels=False)
    return fig.update_layout(title="Each unit's output over the input plane (one colour scale per layer)",
                             height=90 * n_rows + 130, margin={"t": 60, "b": 70})


@honest_axes
def arrows_figure(x: np.ndarray, labels: np.ndarray, grad: np.ndarray, scale: float | None = None) -> go.Figure:
    """The data points with an arrow −∂ℓ/∂x each (the way the point would move to lower its loss)."""
    norms = np.linalg.norm(grad, axis=1)
    scale = scale if scale is not None else 0.3 / max(float(np.percentile(norms, 95)), 1e-12)
    ends = x - scale * grad
    xs, ys = [], []
    for (x0, y0), (x1, y1) in zip(x, ends, strict=True):
        xs += [x0, x1, None]
        ys += [y0, y1, None]
    if np.issubdtype(labels.dtype, np.integer):  # classes in the colours the boundary and data previews use
        points = data_scatter(x.tolist(), labels.tolist(), "classification")
    else:  # a 2-D regression: the target y as colour
        colour = labels.reshape(len(x), -1)[:, 0]
        points = [go.Scatter(x=x[:, 0], y=x[:, 1], mode="markers", name="points",
                             marker={"color": colour, "size": 5, "colorbar": {"title": "y₁"}})]
    fig = go.Figure([*points, go.Scatter(x=xs, y=ys, mode="lines", line={"width": 1, "color": "#444"},
                                         name="−∂ℓ/∂x")])
    fig.update_yaxes(scaleanchor="x", scaleratio=1)
    return fig.update_layout(title="−∂ℓ/∂x: where each point would move to lower its loss", height=380)


def zero_floor(values: list[np.ndarray]) -> float:
    """Where a gradient norm of exactly 0 (every unit dead, say) goes on the log₁₀ colour scale: the decade
    below the smallest positive norm of all `values`, so it is the darkest colour, ticked "0" on the bar, and
    never mistaken for a step nothing was recorded at (NaN, left blank)."""
    pos = np.concatenate([v[np.isfinite(v) & (v > 0)].ravel() for v in values] or [np.array([])])
    return (math.floor(math.log10(pos.min())) if pos.size else 0.0) - 1.0


def heat_values(key: str, values: np.ndarray, zero_at: float | None = None) -> tuple[np.ndarray, dict]:
    """What a health heatmap colours, and how: the update ratio as log₁₀(ratio/1e-3) on ±3 (0 = healthy),
    the gradient norm as log₁₀ (range from the data; a 0 at zero_at, by default zero_floor of these values),
    the fractions on 0…1."""
    if key == "update_ratio":
        return log_ratio(values), {"zmid": 0, "colorscale": "RdBu_r", "zmin": -3, "zmax": 3}
    if key == "grad_norm":
        at = zero_floor([values]) if zero_at is None else zero_at
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(values > 0, np.log10(values), np.where(values == 0, at, np.nan)), {"colorscale": "Viridis"}
    return values, {"colorscale": "Greys", "zmin": 0, "zmax": 1}


def log_ticks(z: np.ndarray, zero_at: float) -> dict:
    """Colour-bar ticks for log₁₀ values: each whole decade as 1e-k, and "0" at zero_at when a 0 is drawn."""
    finite = z[np.isfinite(z)]
    if not finite.size:
        return {}
    above = finite[finite > zero_at]
    vals = list(range(math.ceil(above.min()), math.floor(finite.max()) + 1)) if above.size else []
    text = [f"1e{v}" for v in vals]
    if (finite == zero_at).any():
        vals, text = [zero_at, *vals], ["0", *text]
    return {"tickvals": vals, "ticktext": text}


BAR_TITLES = {"grad_norm": "‖∂L/∂W‖", "update_ratio": "log₁₀(ratio/1e-3)", "dead_fraction": "fraction",
              "saturated_fraction": "fraction"}


@honest_axes
def health_heatmaps_figure(maps: dict[str, HealthMap], name: str = "") -> go.Figure:
    """Layers × steps for each statistic, each with its colour bar beside its own row (the four use different
    scales): the update ratio on a log scale centred on the healthy 1e-3, the gradient norm as log₁₀, the
    fractions on 0…1 (white = 0, so an all-white row is a measured 0, not a gap: gaps are NaN, left blank)."""
    fig = make_subplots(rows=len(HEATMAP_KEYS), cols=1, shared_xaxes=True, vertical_spacing=0.06,
                        subplot_titles=[TITLES[k] for k in HEATMAP_KEYS])
    for r, key in enumerate(HEATMAP_KEYS, start=1):
        m = maps[key]
        zero_at = zero_floor([m.values])
        z, kw = heat_values(key, m.values, zero_at)
        lo, hi = fig.layout[f"yaxis{r if r > 1 else ''}"].domain
        bar = {"title": {"text": BAR_TITLES[key], "side": "right"}, "y": (lo + hi) / 2, "len": hi - lo,
               "thickness": 12, **(log_ticks(z, zero_at) if key == "grad_norm" else {})}
        fig.add_trace(go.Heatmap(x=m.steps, y=[f"layer {v}" for v in m.layers], z=z.tolist(), colorbar=bar,
                                 customdata=m.values.tolist(), **kw,
                                 hovertemplate="step %{x}, %{y}: %{customdata:.3g}<extra></extra>"), row=r, col=1)
    fig.update_xaxes(title="step", row=len(HEATMAP_KEYS), col=1)
    title = f"Gradient health of {html.escape(name)}" if name else "Gradient health"
    return fig.update_layout(title=title, height=160 * len(HEATMAP_KEYS) + 60, margin={"t": 60, "l": 70})


def _largest(scale: dict[int, float]) -> float | None:
    return max(scale.values(), default=None) or None


def diagram_tops(scales: dict[str, dict[int, float]], x_top: float, gradients: bool) -> dict[str, float | None]:
    """The diagram's colour ranges for the whole run: edges ±max|W| (or ±max|∂L/∂W|) over every layer and
    recorded step; neurons ±max(|x|, max|a|). None where the run recorded no maxima (the frame's own then)."""
    acts = _largest(scales["act_max"])
    return {"edge": _largest(scales["grad_max" if gradients else "weight_max"]),
            "node": max(acts, x_top) if acts is not None else None}


def _frame_max(tr, gradients: bool) -> float:
    return max(float((lt.grads["weight"].autograd if gradients else lt.weight).abs().max()) for lt in tr.layers)


def scale_caption(tr, scales: dict[str, dict[int, float]], gradients: bool) -> str:
    """What the colours mean, and whether this step leaves the run's range (drawn at full colour then)."""
    name = "∂L/∂W" if gradients else "W"
    top = _largest(scales["grad_max" if gradients else "weight_max"])
    if top is None:
        return (f"Colours: this step's own range (the run recorded no maxima of |{name}|, so steps are not on "
                "one scale).")
    text = (f"Colours: one range for the whole run — edges ±{top:.3g} (the largest |{name}| it recorded, any "
            "layer, any recorded step), neurons ±the largest |x| or |a|: the same colour is the same value at "
            "every step. Neurons show sample 0 of the batch.")
    here = _frame_max(tr, gradients)
    if here > top:
        text += f" At this step |{name}| reaches {here:.3g}, beyond the recorded range: drawn at full colour."
    return text


@honest_axes
def step_histograms_figure(tr, scales: dict[str, dict[int, float]], step: int, bins: int = 30) -> go.Figure:
    """Per layer, W and ∂L/∂W (autograd, on step t + 1's batch) at step t, each on the run's fixed range
    ±max over recorded steps (so bars move, the axes do not); values beyond it count in the end bins."""
    n = len(tr.layers)
    fig = make_subplots(rows=n, cols=2, vertical_spacing=min(0.12, 0.4 / n), horizontal_spacing=0.08,
                        subplot_titles=[f"layer {lt.index} {k}" for lt in tr.layers for k in ("W", "∂L/∂W")])
    for r, lt in enumerate(tr.layers, start=1):
        for c, (key, values) in enumerate((("weight_max", lt.weight), ("grad_max", lt.grads["weight"].autograd)),
                                          start=1):
            v = values.detach().double().flatten().numpy()
            top = scales[key].get(lt.index) or float(np.abs(v).max()) or 1.0
            counts, edges = np.histogram(np.clip(v, -top, top), bins=bins, range=(-top, top))
            fig.add_trace(go.Bar(x=(edges[:-1] + edges[1:]) / 2, y=counts, width=np.diff(edges), showlegend=False,
                                 marker_color="#2563eb" if c == 1 else "#f97316",
                                 name=f"layer {lt.index} {'W' if c == 1 else '∂L/∂W'}"), row=r, col=c)
            fig.update_xaxes(range=[-top, top], row=r, col=c)
    fig.update_layout(bargap=0, title=f"Weights and gradients at step {step} (axes fixed for the whole run)",
                      height=170 * n + 80, margin={"t": 70})
    return fig
