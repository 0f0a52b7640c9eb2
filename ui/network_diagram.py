"""The network as a Plotly figure: neurons coloured by their activation for one sample, edges by W or ∂L/∂W.

Edges are drawn as a few traces (one per colour bin, segments separated by NaN) rather than one trace
per edge, so a 64×64 layer pair stays fast; hover markers sit at edge midpoints when there are few.
"""
from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.colors import sample_colorscale

from engine.inspector.trace import Trace
from ui.axes import honest_axes

MAX_NODES = 64  # neurons drawn per layer; wider layers show their first MAX_NODES and say so
HOVER_EDGE_LIMIT = 1500  # above this many edges, edge hover markers are left out (the colours stay)
N_BINS = 9  # colour bins for edges
SCALE = "RdBu"  # red negative, blue positive, for nodes and edges alike


def _ys(n: int) -> list[float]:
    """n positions centred on 0, top to bottom."""
    return [(n - 1) / 2 - k for k in range(n)]


def _node_values(t: Trace, sample: int) -> list[list[float]]:
    """[x[sample], a_1[sample], …, a_L[sample]]."""
    return [t.x[sample].tolist()] + [lt.a[sample].tolist() for lt in t.layers]


def _edge_values(t: Trace, mode: str) -> list[list[list[float]]]:
    """Each layer's edge strengths (n_l, n_{l-1}) from its kind: a linear layer's W_l or ∂L/∂W_l (manual)."""
    out = []
    for lt in t.layers:
        values = {name: g.manual for name, g in lt.grads.items()} if mode == "gradient" else lt.params
        w = lt.layer.connections(values)
        out.append(w.tolist() if w is not None else [])
    return out


def symmetric_top(values: list[list[float]]) -> float:
    """max |v| over every layer's values (1 when all are 0): the one range ±top that all layers share,
    so a value has the same colour wherever it sits and the colour bar reads true for every layer."""
    return max((abs(v) for vs in values for v in vs), default=0.0) or 1.0


def _colour_bar(title: str, top: float, x: float) -> go.Scatter:
    """An invisible marker that only carries a colour bar for the range −top … top."""
    return go.Scatter(x=[None], y=[None], mode="markers", hoverinfo="skip", showlegend=False,
                      marker=dict(color=[0.0], colorscale=SCALE, cmin=-top, cmax=top, showscale=True,
                                  colorbar=dict(title=title, x=x, len=0.8)))


def _one_to_one(t: Trace) -> go.Scatter | None:
    """Thin grey edges i → i into every layer that is not a dense map (norms, dropout, residual blocks)."""
    xs, ys = [], []
    for l, lt in enumerate(t.layers, start=1):
        if lt.layer.connections(lt.params) is None:
            for y in _ys(min(lt.layer.units, MAX_NODES)):
                xs += [l - 1, l, None]
                ys += [y, y, None]
    return go.Scatter(x=xs, y=ys, mode="lines", hoverinfo="skip", showlegend=False,
                      line=dict(color="#bbb", width=1)) if xs else None


def _skip_arcs(t: Trace, top: float) -> list[go.Scatter]:
    """Each residual block's skip connection as an arc over its column, with the share of ∂L/∂a_{l-1} it carries:
    ‖δ_l‖ (the skip) against ‖∂L/∂a_{l-1} through the inner layers‖."""
    arcs = []
    for l, lt in enumerate(t.layers, start=1):
        if lt.layer.type != "residual":
            continue
        skip = float(lt.grads["z"].manual.norm())
        inner = float(lt.children[0].grads["input"].manual.norm()) if lt.children else 0.0
        share = skip / (skip + inner) if skip + inner > 0 else 0.0
        xs = [l - 1 + k / 20 for k in range(21)]
        ys = [top + 0.8 * math.sin(math.pi * k / 20) for k in range(21)]
        arcs.append(go.Scatter(x=xs, y=ys, mode="lines", showlegend=False, hoverinfo="text",
                               hovertext=f"skip connection of layer {lt.index}: x + f(x); it carries "
                                         f"{share:.0%} of ‖∂L/∂a_{l - 1}‖ (‖δ‖ = {skip:.3g}, inner path "
                                         f"{inner:.3g})",
                               line=dict(color="#2a9d8f", width=1 + 5 * share, dash="dot")))
    return arcs


def _node_trace(l: int, values: list[float], t: Trace, sample: int, size: int, top: float) -> go.Scatter:
    shown = values[:MAX_NODES]
    if l == 0:
        hover = [f"input x[{sample},{j}] = {v:.6g}" for j, v in enumerate(shown)]
    else:
        lt = t.layers[l - 1]
        z, d = lt.z[sample].tolist(), lt.grads["z"].manual[sample].tolist()
        hover = [f"layer {l} unit {i}<br>z = {z[i]:.6g}<br>a = {v:.6g}<br>δ = ∂L/∂z = {d[i]:.6g}"
                 for i, v in enumerate(shown)]
    colour, symbol = list(shown), "circle"
    if l > 0:
        lt = t.layers[l - 1]
        if lt.layer.type in ("batchnorm", "layernorm"):
            symbol = "square"  # a normalisation node: each unit rescaled by batch (or row) statistics
        mask = lt.values.get("mask")
        if mask is not None:  # a dropped unit: grey, it passes 0 forward and no gradient back
            colour = [v if mask[sample, i] else "#d0d0d0" for i, v in enumerate(shown)]
            hover = [h + ("<br>dropped" if not mask[sample, i] else "") for i, h in enumerate(hover)]
    if any(isinstance(c, str) for c in colour):
        colour = [c if isinstance(c, str) else sample_colorscale(SCALE, [(max(-1, min(1, c / top)) + 1) / 2])[0]
                  for c in colour]  # the shared ±top scale, so a unit has the colour the colour bar gives it
    return go.Scatter(x=[l] * len(shown), y=_ys(len(shown)), mode="markers+text" if len(shown) <= 8 else "markers",
                      text=[f"{v:.3g}" for v in shown], textposition="top center", hovertext=hover,
                      hoverinfo="text", showlegend=False,
                      marker=dict(size=size, color=colour, symbol=symbol, line=dict(width=1, color="#444"),
                                  **({} if any(isinstance(c, str) for c in colour) else
                                     dict(colorscale=SCALE, cmin=-top, cmax=top)),
                                  showscale=False))


def _edge_traces(edges: list[list[list[float]]], sizes: list[int], label: str,
                 top: float | None = None) -> list[go.Scatter]:
    """Edges binned by colour on the scale ±top (default: max |value| of these edges) and its colour bar."""
    top = top or symmetric_top([row for w in edges for row in w])
    colours = sample_colorscale(SCALE, [k / (N_BINS - 1) for k in range(N_BINS)])
    bins = [([], []) for _ in range(N_BINS)]
    mids_x, mids_y, mids_text = [], [], []
    total = sum(min(sizes[l], MAX_NODES) * min(sizes[l - 1], MAX_NODES) for l in range(1, len(sizes)))
    for l, w in enumerate(edges, start=1):
        y_out, y_in = _ys(min(sizes[l], MAX_NODES)), _ys(min(sizes[l - 1], MAX_NODES))
        for i, row in enumerate(w[:MAX_NODES]):
            for j, v in enumerate(row[:MAX_NODES]):
                k = min(max(round((v / top + 1) / 2 * (N_BINS - 1)), 0), N_BINS - 1)  # −top … top → 0 … N_BINS − 1
                bins[k][0].extend([l - 1, l, None])
                bins[k][1].extend([y_in[j], y_out[i], None])
                if total <= HOVER_EDGE_LIMIT:
                    mids_x.append(l - 0.5)
                    mids_y.append((y_in[j] + y_out[i]) / 2)
                    mids_text.append(f"{label}{l}[{i},{j}] = {v:.6g}")
    # numpy arrays (None → NaN, still a break in the line): plotly checks a list element by element, which took
    # seconds for 11 layers of 64 × 64 edges, and an array at once
    traces = [go.Scatter(x=np.array(xs, dtype=float), y=np.array(ys, dtype=float), mode="lines", hoverinfo="skip",
                         showlegend=False,
                         line=dict(color=colours[k], width=0.6 + 3.0 * abs(2 * k / (N_BINS - 1) - 1)))
              for k, (xs, ys) in enumerate(bins) if xs]
    if mids_x:
        traces.append(go.Scatter(x=mids_x, y=mids_y, mode="markers", hovertext=mids_text, hoverinfo="text",
                                 marker=dict(size=6, color="rgba(0,0,0,0)"), showlegend=False))
    return traces + [_colour_bar(label, top, 1.14)]


def node_size(t: Trace) -> int:
    """Marker size of a unit: large enough for its value label when the widest layer is narrow."""
    widest = min(max(t.spec.sizes), MAX_NODES)
    return 30 if widest <= 8 else 16 if widest <= 24 else 9


def lay_out(fig: go.Figure, t: Trace, right: float = 0.0) -> None:
    """Columns 0 … L named under the diagram (a kind other than linear says what it is), no y axis, and a
    height that leaves room for the value labels; `right` widens the x range (the stepper's loss box)."""
    sizes = t.spec.sizes
    names = ["input"] + [f"layer {lt.index}<br>{lt.activation if lt.layer.type == 'linear' else lt.layer.describe()}"
                         for lt in t.layers]
    ticks = [f"{n}<br>({s} units)" for n, s in zip(names, sizes, strict=True)]
    fig.update_xaxes(tickvals=list(range(len(sizes))), ticktext=ticks,
                     showgrid=False, zeroline=False, range=[-0.4, len(sizes) - 0.5 + right])
    fig.update_yaxes(visible=False)
    widest = min(max(sizes), MAX_NODES)
    per_node = 64 if widest <= 8 else 22 if widest <= 24 else 11  # px per neuron: room for the value labels
    fig.update_layout(height=min(760, 150 + per_node * widest), margin=dict(l=10, r=10, t=10, b=10),
                      plot_bgcolor="white", hovermode="closest")


@honest_axes
def network_figure(t: Trace, sample: int = 0, edge_mode: str = "weight",
                   tops: dict[str, float | None] | None = None) -> tuple[go.Figure, list[str]]:
    """(figure, notes): notes say which layers were cut to MAX_NODES and whether edge hover was dropped.
    tops {"edge", "node"}: fixed colour ranges ±top (a replay's, shared by every step); None: this trace's."""
    sizes = t.spec.sizes
    label = "∂L/∂W" if edge_mode == "gradient" else "W"
    tops = tops or {}
    fig = go.Figure(_edge_traces(_edge_values(t, edge_mode), sizes, label, tops.get("edge")))
    direct = _one_to_one(t)
    if direct is not None:
        fig.add_trace(direct)
    for arc in _skip_arcs(t, _ys(min(max(sizes), MAX_NODES))[0]):
        fig.add_trace(arc)
    size = node_size(t)
    nodes = _node_values(t, sample)
    top = tops.get("node") or symmetric_top(nodes)
    for l, values in enumerate(nodes):
        fig.add_trace(_node_trace(l, values, t, sample, size, top))
    fig.add_trace(_colour_bar("activation", top, 1.02))
    lay_out(fig, t)
    notes = [f"{'input' if l == 0 else f'layer {l}'}: showing units 0–{MAX_NODES - 1} of {s}"
             for l, s in enumerate(sizes) if s > MAX_NODES]
    total = sum(min(sizes[l], MAX_NODES) * min(sizes[l - 1], MAX_NODES) for l in range(1, len(sizes)))
    if total > HOVER_EDGE_LIMIT:
        notes.append(f"{total:,} edges: hover on edges is off (colours still show {label}); hover a neuron instead")
    return fig, notes
