"""Plotly figures for the Train page: plain functions, data in, figure out. Non-finite values are dropped
(a diverged run's last numbers) so no chart ever shows NaN or a blown-up axis."""
from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from engine.train import health
from ui.axes import honest_axes

CLASS_COLORS = qualitative.Plotly
LAYER_COLORS = qualitative.D3
HEALTHY_RATIO = 1e-3  # CS231n's rule of thumb for ‖ΔW‖/‖W‖
_MARGIN = {"l": 10, "r": 10, "t": 40, "b": 10}


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def finite_xy(xs, ys, *, positive: bool = False) -> tuple[list, list]:
    """The (x, y) pairs whose y is a finite number (and > 0 when `positive`, for log axes)."""
    pairs = [(x, y) for x, y in zip(xs, ys, strict=True) if _finite(y) and (y > 0 or not positive)]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def _layout(fig: go.Figure, title: str, height: int = 320) -> go.Figure:
    fig.update_layout(title=title, height=height, margin=_MARGIN, legend={"orientation": "h", "y": -0.2})
    return fig


def _epoch_trace(epochs: list[dict], key: str, name: str, x_key: str, **kw) -> go.Scatter:
    xs, ys = finite_xy([e.get(x_key) for e in epochs], [e.get(key) for e in epochs])
    return go.Scatter(x=xs, y=ys, name=name, mode="lines+markers" if len(xs) <= 30 else "lines", **kw)


WIDE_DECADES = 3  # a loss spanning more orders of magnitude than this is drawn on a log axis by default


def loss_decades(steps: list[dict]) -> float:
    """Orders of magnitude the logged batch losses span: log₁₀(max / min) over the finite positive ones
    (a diverged run: ~10; MNIST's epoch: ~2). On a linear axis everything below max/10³ reads as 0."""
    ys = np.array([s["loss"] for s in steps], dtype=float)
    ys = ys[np.isfinite(ys) & (ys > 0)]
    return float(np.log10(ys.max() / ys.min())) if ys.size >= 2 else 0.0


@honest_axes
def loss_figure(steps: list[dict], epochs: list[dict], *, log_y: bool = False) -> go.Figure:
    """Loss against step: every logged batch loss from step 0 (the untrained loss), each epoch's mean train
    loss at the middle of the steps it averages, and the validation loss after the epoch's last step."""
    fig = go.Figure()
    xs, ys = finite_xy([s["step"] for s in steps], [s["loss"] for s in steps], positive=log_y)
    fig.add_trace(go.Scatter(x=xs, y=ys, name="batch loss (logged steps)", mode="lines",
                             line={"color": "#9ca3af", "width": 1}))
    ends = [e.get("step") for e in epochs]
    mids = [{**e, "mid": (lo + hi) / 2 if lo is not None and hi is not None else None}
            for e, lo, hi in zip(epochs, [0, *ends][:len(ends)], ends, strict=True)]
    fig.add_trace(_epoch_trace(mids, "train_loss", "train loss (epoch mean)", "mid", line={"color": "#2563eb"}))
    fig.add_trace(_epoch_trace(epochs, "val_loss", "validation loss", "step", line={"color": "#dc2626"}))
    fig.update_xaxes(title="step")
    fig.update_yaxes(title="loss (mean over the batch)", type="log" if log_y else "linear", exponentformat="e")
    return _layout(fig, "Loss")


@honest_axes
def accuracy_figure(epochs: list[dict]) -> go.Figure:
    """Train accuracy (over the epoch's batches, before each step) and validation accuracy per epoch."""
    fig = go.Figure()
    fig.add_trace(_epoch_trace(epochs, "train_accuracy", "train accuracy", "epoch", line={"color": "#2563eb"}))
    fig.add_trace(_epoch_trace(epochs, "val_accuracy", "validation accuracy", "epoch", line={"color": "#dc2626"}))
    fig.update_xaxes(title="epoch", dtick=1 if len(epochs) <= 20 else None)
    fig.update_yaxes(title="accuracy", range=[0, 1.02], tickformat=".0%")
    return _layout(fig, "Accuracy")


def _decades(values: list[float]) -> list[int]:
    """A log-axis range in whole decades [10^lo, 10^hi] around the positive values (at least one decade)."""
    pos = [v for v in values if _finite(v) and v > 0] or [1.0]
    lo, hi = math.floor(math.log10(min(pos))), math.ceil(math.log10(max(pos)))
    return [lo, max(hi, lo + 1)]


def _log_panel(fig: go.Figure, values: list[float], col: int) -> float | None:
    """Decade ticks for panel `col`; when some values are exactly 0 (dead ReLUs, no update) a grey band one
    decade below the data, labelled "0", to draw them on (log10 0 = −∞). Returns the band's y, or None."""
    lo, hi = _decades(values)
    has_zero = any(_finite(v) and v == 0 for v in values)
    vals = [10.0 ** k for k in range(lo, hi + 1)]
    text = [f"10<sup>{k}</sup>" for k in range(lo, hi + 1)]
    floor = 10 ** (lo - 0.5) if has_zero else None
    if has_zero:
        fig.add_hrect(y0=10.0 ** (lo - 1), y1=10.0 ** lo, fillcolor="#e5e7eb", line_width=0, layer="below",
                      row=1, col=col, exclude_empty_subplots=False)
        vals, text = [floor, *vals], ["0", *text]
    fig.update_yaxes(type="log", range=[lo - 1 if has_zero else lo, hi], tickmode="array", tickvals=vals,
                     ticktext=text, row=1, col=col)
    return floor


def _zeros_at(floor: float | None, xs: list, ys: list) -> tuple[list, list]:
    """(x, y) with y finite and positive, or exactly 0 drawn at `floor` (when there is a band)."""
    pairs = [(x, y if y > 0 else floor) for x, y in zip(xs, ys, strict=True)
             if _finite(y) and (y > 0 or (y == 0 and floor is not None))]
    return [p[0] for p in pairs], [p[1] for p in pairs]


@honest_axes
def health_figure(rows: list[dict]) -> go.Figure:
    """Per-layer ‖∂L/∂W_l‖ and ‖ΔW_l‖/‖W_l‖ against step, both on log axes with one tick per decade (exact
    zeros on a band labelled 0); the ratio panel has the healthy 1e-3 guide and the 'too large' threshold."""
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.1, subplot_titles=(
        "gradient norm ‖∂L/∂W‖ per layer", "update ratio ‖ΔW‖/‖W‖ per layer"))
    guides = ((HEALTHY_RATIO, "dash", "#16a34a", "≈1e-3 healthy"),
              (health.UPDATE_TOO_LARGE, "dot", "#dc2626", f"> {health.UPDATE_TOO_LARGE:g} too large"))
    floors = {1: _log_panel(fig, [r.get("grad_norm") for r in rows], 1),
              2: _log_panel(fig, [r.get("update_ratio") for r in rows] + [g[0] for g in guides], 2)}
    for layer in sorted({r["layer"] for r in rows}):
        mine = [r for r in rows if r["layer"] == layer]
        color = LAYER_COLORS[(layer - 1) % len(LAYER_COLORS)]
        for col, key in ((1, "grad_norm"), (2, "update_ratio")):
            xs, ys = _zeros_at(floors[col], [r["step"] for r in mine], [r.get(key) for r in mine])
            fig.add_trace(go.Scatter(x=xs, y=ys, name=f"layer {layer}", legendgroup=f"layer {layer}",
                                     showlegend=col == 1, mode="lines+markers" if len(xs) <= 60 else "lines",
                                     marker={"size": 5}, line={"color": color}), row=1, col=col)
    for y, dash, color, text in guides:
        fig.add_hline(y=y, line_dash=dash, line_color=color, row=1, col=2)
        # annotations on a log axis take log10(y): add_hline's own annotation lands in the wrong place
        fig.add_annotation(x=1, xref="x2 domain", y=math.log10(y), yref="y2", text=text, showarrow=False,
                           xanchor="right", yanchor="bottom", font={"color": color, "size": 11})
    fig.update_xaxes(title="step")
    _layout(fig, "Gradient health", height=360)
    return fig.update_layout(margin={**_MARGIN, "t": 70})  # room for the title above the panel titles


def latest_flags(rows: list[dict]) -> list[str]:
    """engine.train.health.flags for each layer's most recent stats row: 'layer 2 (step 400): …'."""
    latest: dict[int, dict] = {}
    for r in rows:
        if r["layer"] not in latest or r["step"] >= latest[r["layer"]]["step"]:
            latest[r["layer"]] = r
    return [f"layer {layer} (step {r['step']}): {flag}"
            for layer, r in sorted(latest.items()) for flag in health.flags(r)]


@honest_axes
def histogram_figure(rows: list[dict], epoch: int) -> go.Figure:
    """One row per layer, weights on the left and ∂L/∂W on the right, from engine.train.health.histograms rows."""
    layers = sorted({r["layer"] for r in rows}) or [1]
    fig = make_subplots(rows=len(layers), cols=2, vertical_spacing=min(0.12, 0.4 / len(layers)),
                        horizontal_spacing=0.08,
                        subplot_titles=[f"layer {layer} {t}" for layer in layers for t in ("W", "∂L/∂W")])
    for r in rows:
        edges, counts = r["edges"], r["counts"]
        centres = [(a + b) / 2 for a, b in zip(edges[:-1], edges[1:], strict=True)]
        col = 1 if r["kind"] == "weight" else 2
        fig.add_trace(go.Bar(x=centres, y=counts, width=[b - a for a, b in zip(edges[:-1], edges[1:], strict=True)],
                             marker_color="#2563eb" if col == 1 else "#f97316", showlegend=False,
                             name=f"layer {r['layer']} {r['kind']}"), row=layers.index(r["layer"]) + 1, col=col)
    fig.update_layout(bargap=0)
    fig.update_xaxes(exponentformat="e")
    return _layout(fig, f"Weight and gradient histograms after epoch {epoch}", height=180 * len(layers) + 80)


def exact_typed(values) -> np.ndarray:
    """Numbers as a numpy array for a figure (sent as base64, not ~20 characters of JSON a number): float32 when
    every value survives the round trip (the datasets' tensors are float32: 4 bytes a number), else float64."""
    a = np.asarray(values, dtype=np.float64)
    a32 = a.astype(np.float32)
    return a32 if np.array_equal(a32, a, equal_nan=True) else a


def data_scatter(x: list, y: list, task: str, outline: bool = True) -> list[go.Scatter]:
    """Scatter traces of a dataset: per class for classification (x: (n, 2)), y against x₁ for regression.
    `outline`: a white ring round each class point, which keeps it visible on a heatmap of its own class colour;
    on a blank background it only costs drawing time (~30 % of an 800-point chart's draw in the browser)."""
    if task == "regression":
        return [go.Scatter(x=exact_typed([row[0] for row in x]),
                           y=exact_typed([row[0] if isinstance(row, list) else row for row in y]),
                           mode="markers", marker={"size": 4, "color": "#2563eb"}, name="data")]
    traces = []
    for k in sorted(set(y)):
        pts = exact_typed([p[:2] for p, c in zip(x, y, strict=True) if c == k]).reshape(-1, 2)  # (n_k, 2)
        traces.append(go.Scatter(x=pts[:, 0], y=pts[:, 1], mode="markers", name=f"class {k}",
                                 marker={"size": 5, "color": CLASS_COLORS[k % len(CLASS_COLORS)],
                                         "line": {"width": 0.5 if outline else 0, "color": "white"}}))
    return traces


@honest_axes
def data_figure(x: list, y: list, task: str, title: str) -> go.Figure:
    """A dataset preview: the points coloured by class, or y against the first feature."""
    fig = go.Figure(data_scatter(x, y, task, outline=False))  # a blank background: no ring needed
    fig.update_xaxes(title="x₁")
    fig.update_yaxes(title="y" if task == "regression" else "x₂")
    if task != "regression":
        fig.update_yaxes(scaleanchor="x", scaleratio=1)
    return _layout(fig, title, height=340)


@honest_axes
def boundary_figure(grid, x: list, y: list, epoch: int) -> go.Figure:
    """engine.train.boundary.BoundaryGrid under the training points: P(class 1) for two softmax/sigmoid classes,
    else the predicted class."""
    k = grid.probs.shape[-1]
    if k == 2 and grid.kind != "scores":
        heat = go.Heatmap(x=grid.xs, y=grid.ys, z=grid.probs[..., 1].tolist(), zmin=0, zmax=1, opacity=0.55,
                          colorscale=[[0, CLASS_COLORS[0]], [0.5, "#ffffff"], [1, CLASS_COLORS[1]]],
                          colorbar={"title": "P(class 1)", "len": 0.8}, hovertemplate="P(class 1) = %{z:.3f}")
    else:
        scale = [[i / max(k - 1, 1), CLASS_COLORS[i % len(CLASS_COLORS)]] for i in range(k)]
        heat = go.Heatmap(x=grid.xs, y=grid.ys, z=grid.pred.tolist(), zmin=0, zmax=max(k - 1, 1), colorscale=scale,
                          opacity=0.35, showscale=False, hovertemplate="predicted class %{z}")
    fig = go.Figure([heat, *data_scatter(x, y, "classification")])
    fig.update_xaxes(title="x₁", range=[grid.xs[0], grid.xs[-1]])
    fig.update_yaxes(title="x₂", range=[grid.ys[0], grid.ys[-1]], scaleanchor="x", scaleratio=1)
    return _layout(fig, f"Decision boundary after epoch {epoch}", height=420)


@honest_axes
def params_figure(rows: list[dict]) -> go.Figure:
    """Grouped bars from engine.train.boundary.compare_params rows: each true wᵢ and b next to the learned one."""
    names = [r["name"] for r in rows]
    fig = go.Figure([go.Bar(x=names, y=[r["true"] for r in rows], name="true", marker_color="#9ca3af"),
                     go.Bar(x=names, y=[r["learned"] for r in rows], name="learned", marker_color="#2563eb")])
    fig.update_layout(barmode="group")
    return _layout(fig, "Learned vs true parameters")


@honest_axes
def confusion_figure(confusion: list[list[int]], split: str) -> go.Figure:
    """Heatmap C[i][j] = rows of true class i predicted as j, counts written in. Only the errors (off the
    diagonal) are coloured, white → light red (dark text stays readable) on their own 0…max scale: next to
    ~1000 correct rows a linear scale over all cells hides them."""
    k = len(confusion)
    labels = [str(i) for i in range(k)]
    mask = [[c if i == j else None for j, c in enumerate(row)] for i, row in enumerate(confusion)]
    off = [[None if i == j else c for j, c in enumerate(row)] for i, row in enumerate(confusion)]
    top = max((c for row in off for c in row if c is not None), default=0) or 1
    common = dict(x=labels, y=labels, text=confusion, texttemplate="%{text}", showscale=False)
    fig = go.Figure([
        go.Heatmap(z=mask, name="correct", colorscale=[[0, "#e5e7eb"], [1, "#e5e7eb"]],
                   hovertemplate="true %{y}, predicted %{x}: %{z} correct<extra></extra>", **common),
        go.Heatmap(z=off, name="errors", colorscale=[[0, "#ffffff"], [1, "#f87171"]], zmin=0, zmax=top,
                   hovertemplate="true %{y}, predicted %{x}: %{z} errors<extra></extra>", **common)])
    fig.update_xaxes(title="predicted class", type="category")
    fig.update_yaxes(title="true class", type="category", autorange="reversed")
    return _layout(fig, f"Confusion matrix ({split} set; colour = errors only, the diagonal is grey)",
                   height=280 if k <= 3 else 440)


@honest_axes
def digits_figure(images: list, titles: list[str], cols: int = 8) -> go.Figure:
    """A grid of 28×28 grey images (ink dark on white), one title ('label 3 → 5') each."""
    rows = max(1, math.ceil(len(images) / cols))
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles, vertical_spacing=0.06, horizontal_spacing=0.01)
    for i, img in enumerate(images):
        fig.add_trace(go.Heatmap(z=img, colorscale="Greys", zmin=0, zmax=1, showscale=False,
                                 hoverinfo="skip"), row=i // cols + 1, col=i % cols + 1)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, autorange="reversed", scaleanchor="x")
    fig.update_annotations(font={"size": 13, "color": "#111827"})
    return _layout(fig, "Misclassified test digits (label → predicted)", height=110 * rows + 60)


def first_points(x, y, limit: int = 1500) -> tuple[list, list]:
    """The first `limit` rows of a dataset's tensors as lists (enough points to see the shape)."""
    return x[:limit].tolist(), y[:limit].tolist()


def misclassified_digits(x_test, rows: list[dict], limit: int = 32) -> tuple[list, list[str]]:
    """28×28 images (lists) of the first `limit` misclassified test rows and titles 'label → predicted'."""
    rows = rows[:limit]
    return ([x_test[r["index"]].reshape(28, 28).tolist() for r in rows],
            [f"{r['label']} → {r['pred']}" for r in rows])
