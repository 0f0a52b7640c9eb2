"""Figures of a loss landscape (engine.landscape.compute.Landscape.to_json()): the contour over the plane with
each run's path, the optional 3-D surface, each path's projection error, and the 1-D slices.

Colour is log₁₀ of the loss (a landscape spans decades), labelled with the loss itself. A path is drawn at
its projection (α, β); where it is far from the plane (projection error > FADE_AT) it is faded and dotted,
and its hover gives both the loss of the run's real weights and the loss of the surface under the marker.
"""
from __future__ import annotations

import math

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from engine.landscape.compute import FADE_AT
from ui.axes import EXPONENT, honest_axes
from ui.text import safe_text

NICE = (1, 2, 5)  # colour-bar labels at 1, 2, 5 × 10^k
FADED = 0.5  # opacity of a path far from the plane: visible, but not read as exact
DASHES = ("dash", "dot", "dashdot", "longdash", "longdashdot")  # one per final ↔ final pair


def axis_titles(result: dict, names: dict[str, str]) -> tuple[str, str]:
    """What α and β measure on this plane (the endpoints plane names its two runs)."""
    plane = result["plane"]
    if plane["kind"] == "endpoints":
        a, b = (safe_text(names.get(p["run_id"], p["run_id"])) for p in result["paths"][:2])
        return (f"α: distance toward {a}'s final weights (parameter space)",
                f"β: distance toward {b}'s final weights, ⊥ α (parameter space)")
    if plane["kind"] == "pca":
        share = plane.get("explained_variance") or [math.nan, math.nan]
        return (f"α: distance along PC 1 ({share[0]:.1%} of the paths' spread)",
                f"β: distance along PC 2 ({share[1]:.1%})")
    return ("α: random direction 1 (filter-normalised: 1 = each filter's norm)", "β: random direction 2")


def log_ticks(values: list[float]) -> tuple[list[float], list[str]]:
    """Colour-bar ticks for log₁₀(loss): the 1-2-5 numbers inside the range, labelled with the loss."""
    pos = [v for v in values if v is not None and v > 0]
    if not pos:
        return [], []
    lo, hi = math.floor(math.log10(min(pos))), math.ceil(math.log10(max(pos)))
    ticks = [m * 10.0 ** k for k in range(lo, hi + 1) for m in NICE if min(pos) <= m * 10.0 ** k <= max(pos)]
    return [math.log10(t) for t in ticks], [f"{t:g}" for t in ticks]


def _log(v):
    return math.log10(v) if v is not None and v > 0 else None


def _path_style(path: dict, color: str) -> dict:
    faded = path["faded"]
    return {"line": {"color": color, "width": 2, "dash": "dot" if faded else "solid"},
            "opacity": FADED if faded else 1.0}


def _hover(path: dict) -> list[str]:
    return [f"step {s}<br>loss of the run's weights {lo:.4g}<br>surface loss here {su:.4g}<br>"
            f"projection error {e:.2g}" for s, lo, su, e in
            zip(path["step"], path["loss"], path["surface_loss"], path["projection_error"], strict=True)]


@honest_axes
def landscape_contour_figure(result: dict, names: dict[str, str], colors: dict[str, str]) -> go.Figure:
    flat = [v for row in result["loss"] for v in row]
    tickvals, ticktext = log_ticks(flat)
    z = [[_log(v) for v in row] for row in result["loss"]]
    fig = go.Figure(go.Contour(x=result["alpha"], y=result["beta"], z=z, customdata=result["loss"],
                               colorscale="Viridis", ncontours=25, name="loss",
                               colorbar={"title": {"text": "loss (log scale)"}, "tickvals": tickvals,
                                         "ticktext": ticktext},
                               hovertemplate="α %{x:.3g}, β %{y:.3g}<br>loss %{customdata:.4g}<extra></extra>"))
    for path in result["paths"]:
        rid, color = path["run_id"], colors.get(path["run_id"], "#fff")
        label = safe_text(names.get(rid, rid)) + (" (far from the plane)" if path["faded"] else "")
        fig.add_trace(go.Scatter(x=path["alpha"], y=path["beta"], mode="lines+markers", name=label, meta=rid,
                                 marker={"size": 4, "color": color}, text=_hover(path), hoverinfo="text",
                                 legendgroup=rid, **_path_style(path, color)))
        ends = [(0, "start", "circle-open", 14), (-1, "end", "star", 16)]
        for i, word, symbol, size in ends:
            fig.add_trace(go.Scatter(x=[path["alpha"][i]], y=[path["beta"][i]], mode="markers", showlegend=False,
                                     legendgroup=rid, hovertext=f"{label}: {word} (step {path['step'][i]})",
                                     hoverinfo="text", opacity=FADED if path["faded"] else 1.0,
                                     marker={"symbol": symbol, "size": size, "color": color,
                                             "line": {"color": "white", "width": 1.5}}))
    ax, ay = axis_titles(result, names)
    # one unit of α as long as one of β (true distances on the orthonormal planes); the plot narrows, the range stays
    fig.update_xaxes(title=ax, constrain="domain").update_yaxes(title=ay, scaleanchor="x", scaleratio=1,
                                                                   constrain="domain")
    return fig.update_layout(title=f"Training loss over the {result['plane']['kind']} plane through "
                                   f"{result['plane']['center']}; ○ start, ★ end", height=560,
                             legend={"orientation": "h", "y": -0.25})


@honest_axes
def landscape_surface_figure(result: dict, names: dict[str, str], colors: dict[str, str]) -> go.Figure:
    """The same loss as a 3-D surface, height and colour log₁₀(loss) labelled with the loss; each path at the
    surface's loss under it (its own loss is in the hover)."""
    tickvals, ticktext = log_ticks([v for row in result["loss"] for v in row])
    z = [[_log(v) for v in row] for row in result["loss"]]
    fig = go.Figure(go.Surface(x=result["alpha"], y=result["beta"], z=z, customdata=result["loss"],
                               colorscale="Viridis", showscale=False, opacity=0.9, name="loss",
                               hovertemplate="α %{x:.3g}, β %{y:.3g}<br>loss %{customdata:.4g}<extra></extra>"))
    for path in result["paths"]:
        rid, color = path["run_id"], colors.get(path["run_id"], "#fff")
        fig.add_trace(go.Scatter3d(x=path["alpha"], y=path["beta"], z=[_log(v) for v in path["surface_loss"]],
                                   mode="lines+markers", name=safe_text(names.get(rid, rid)), text=_hover(path),
                                   hoverinfo="text", marker={"size": 3, "color": color}, **_path_style(path, color)))
    axis = {"exponentformat": EXPONENT}
    fig.update_layout(scene={"xaxis": {**axis, "title": "α"}, "yaxis": {**axis, "title": "β"},
                             "zaxis": {"title": "loss (log scale)", "tickvals": tickvals, "ticktext": ticktext}},
                      title="The same loss as a surface; each path at the loss of the surface under it", height=600)
    return fig


@honest_axes
def projection_error_figure(result: dict, names: dict[str, str], colors: dict[str, str]) -> go.Figure:
    fig = go.Figure()
    for path in result["paths"]:
        rid = path["run_id"]
        fig.add_trace(go.Scatter(x=path["step"], y=path["projection_error"], mode="lines+markers", meta=rid,
                                 name=safe_text(names.get(rid, rid)), line={"color": colors.get(rid)}))
    fig.add_hline(y=FADE_AT, line_dash="dash", line_color="#888",
                  annotation_text=f"above {FADE_AT:g}: the path is drawn faded")
    fig.update_xaxes(title="step").update_yaxes(title="distance from the plane ÷ ‖θ_end − θ_0‖", rangemode="tozero")
    return fig.update_layout(title="How far each path is from the plane (0: exactly on it)", height=320)


@honest_axes
def slices_figure(result: dict, names: dict[str, str], colors: dict[str, str]) -> go.Figure:
    """Left: the loss along θ₀ + t (θ_end − θ₀) per run. Right: along θ_A + t (θ_B − θ_A), final to final."""
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.12, subplot_titles=("initial → final weights of each run",
                                                        "final ↔ final: the barrier between two runs"))
    pairs = [cut for cut in result["slices"] if cut["kind"] == "final_final"]
    for cut in result["slices"]:
        ids = cut["run_ids"]
        if cut["kind"] == "init_final":
            fig.add_trace(go.Scatter(x=cut["t"], y=cut["loss"], mode="lines", name=safe_text(names.get(ids[0], ids[0])),
                                     meta=ids[0], line={"color": colors.get(ids[0])}), row=1, col=1)
        else:
            label = f"{safe_text(names.get(ids[0], ids[0]))} ↔ {safe_text(names.get(ids[1], ids[1]))} " \
                    f"(barrier {cut['barrier']:.3g})"
            fig.add_trace(go.Scatter(x=cut["t"], y=cut["loss"], mode="lines", name=label, meta=",".join(ids),
                                     line={"color": "#555", "dash": DASHES[pairs.index(cut) % len(DASHES)]}),
                          row=1, col=2)
    for col, kind in ((1, "init_final"), (2, "final_final")):
        for t in (0, 1):
            fig.add_vline(x=t, line_color="#bbb", line_width=1, row=1, col=col)
        values = [v for cut in result["slices"] if cut["kind"] == kind for v in cut["loss"] if v is not None]
        # log only when the losses span decades: inside one decade a log axis has no labelled tick
        log = bool(values) and min(values) > 0 and max(values) / min(values) >= 20
        fig.update_yaxes(title="training loss" + (" (log)" if log else ""), type="log" if log else "linear",
                         row=1, col=col)
    fig.update_xaxes(title="t (0: initial weights, 1: final weights)", row=1, col=1)
    if len(pairs) == 1:
        a, b = (safe_text(names.get(r, r)) for r in pairs[0]["run_ids"])
        fig.update_xaxes(title=f"t (0: {a}'s final weights, 1: {b}'s)", row=1, col=2)
    else:
        fig.update_xaxes(title="t (0: the first run's final weights, 1: the second's)", row=1, col=2)
    return fig.update_layout(title="1-D slices: the loss along straight lines", height=360)
