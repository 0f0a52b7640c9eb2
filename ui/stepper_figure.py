"""The network diagram at one frame of the step-through: what is computed so far in colour, what is not yet
computed in grey, and what this frame computes ringed (units) or underlaid (edges) in gold.

Forward frames colour each unit by the newest forward value at its column (x, z_l, then a_l) and the edges by
W once their layer has run. Backward frames colour each unit by the newest gradient at its column (∂L/∂a_l,
then δ_l) and the edges by ∂L/∂W once computed. One colour scale per quantity and phase, fixed over all frames,
so a colour means the same number at every step.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from engine.inspector.trace import Trace
from engine.teach.frames import Frame
from ui.axes import honest_axes
from ui.network_diagram import (
    MAX_NODES,
    SCALE,
    _colour_bar,
    _edge_traces,
    _edge_values,
    _ys,
    lay_out,
    node_size,
    symmetric_top,
)

GREY = "#dcdcdc"
GOLD = "rgba(255, 170, 0, 0.35)"
GROUPS = {"forward": "forward", "loss": "forward", "backward": "backward"}


def _node_frames(fs: list[Frame], upto: int, group: str, sizes: list[int]) -> dict[int, Frame]:
    """Column → the newest frame ≤ upto in this group whose value is one number per unit of that column."""
    out = {}
    for f in fs[:upto + 1]:
        if GROUPS[f.phase] != group or not _per_unit(f):
            continue
        for c in f.nodes:
            if f.value.shape[1] == sizes[c]:
                out[c] = f
    return out


def _top(fs: list[Frame], group: str, sizes: list[int], sample: int) -> float:
    """One scale for the whole group: every node value any of its frames shows."""
    values = [f.value[sample].tolist() for f in fs if GROUPS[f.phase] == group and _per_unit(f)
              and all(f.value.shape[1] == sizes[c] for c in f.nodes)]
    return symmetric_top(values)


def _per_unit(f: Frame) -> bool:
    """f's value is one row per sample (B, n) at some units: x, z, a, ∂L/∂a, δ — not a parameter's gradient."""
    return bool(f.nodes) and f.quantity in ("x", "z", "a", "grad_a", "delta", "grad_input")


def _edges_done(fs: list[Frame], upto: int, group: str) -> set[int]:
    """Columns whose incoming edges are computed by frame upto: forward, the layer ran (its z frame);
    backward, its ∂L/∂W frame."""
    wanted = {"forward": ("z",), "backward": ("grad_param",)}[group]
    return {c for f in fs[:upto + 1] if GROUPS[f.phase] == group and f.quantity in wanted for c in f.edges}


def _units(c: int, f: Frame, sample: int, size: int, top: float) -> go.Scatter:
    """Column c's units coloured by frame f's value for this sample (its first MAX_NODES units)."""
    row = f.value[sample].tolist()[:MAX_NODES]
    return go.Scatter(x=[c] * len(row), y=_ys(len(row)), mode="markers+text" if len(row) <= 8 else "markers",
                      text=[f"{v:.3g}" for v in row], textposition="top center", showlegend=False,
                      hovertext=[f"{f.title}<br>[{sample},{i}] = {v:.6g}" for i, v in enumerate(row)],
                      hoverinfo="text", marker=dict(size=size, color=row, colorscale=SCALE, cmin=-top, cmax=top,
                                                    line=dict(width=1, color="#444"), showscale=False))


def _grey_units(c: int, n: int, size: int) -> go.Scatter:
    return go.Scatter(x=[c] * n, y=_ys(n), mode="markers", hoverinfo="text", showlegend=False,
                      hovertext=["not computed yet"] * n, marker=dict(size=size, color=GREY,
                                                                        line=dict(width=1, color="#aaa")))


def _lines(t: Trace, columns, colour: str, width: float) -> go.Scatter | None:
    """Every edge into the given columns as one line trace: all pairs into a dense layer, unit i → unit i into
    the others (norms, dropout, residual blocks). Segments are separated by NaN, in numpy arrays: plotly checks
    a list element by element (seconds for 11 layers of 64 × 64 edges), an array at once."""
    sizes, xs, ys = t.spec.sizes, [], []
    for c in columns:
        if c == 0:
            continue
        lt = t.layers[c - 1]
        y_out, y_in = np.array(_ys(min(sizes[c], MAX_NODES))), np.array(_ys(min(sizes[c - 1], MAX_NODES)))
        if lt.layer.connections(lt.params) is not None:
            y_out, y_in = np.repeat(y_out, len(y_in)), np.tile(y_in, len(y_out))  # every (out, in) pair
        n = len(y_out)
        xs.append(np.stack([np.full(n, c - 1.0), np.full(n, float(c)), np.full(n, np.nan)], 1).ravel())
        ys.append(np.stack([y_in, y_out, np.full(n, np.nan)], 1).ravel())
    return go.Scatter(x=np.concatenate(xs), y=np.concatenate(ys), mode="lines", hoverinfo="skip", showlegend=False,
                      line=dict(color=colour, width=width)) if xs else None


def _skips(t: Trace) -> list[go.Scatter]:
    """Each residual block's skip connection, a dotted arc over its column: structure only (the Diagram view's
    arc width is the gradient share, which the step-through has not computed yet in most frames)."""
    top = _ys(min(max(t.spec.sizes), MAX_NODES))[0]
    k = np.linspace(0, 1, 21)
    return [go.Scatter(x=c - 1 + k, y=top + 0.8 * np.sin(np.pi * k), mode="lines", showlegend=False,
                       hoverinfo="text", hovertext=f"skip connection of layer {lt.index}: z = a + f(a)",
                       line=dict(color="#2a9d8f", width=2, dash="dot"))
            for c, lt in enumerate(t.layers, start=1) if lt.children]


def _direct(t: Trace) -> list[int]:
    """Columns whose layer is not a dense map: their one-to-one edges carry no weight, only the structure."""
    return [c for c, lt in enumerate(t.layers, start=1) if lt.layer.connections(lt.params) is None]


@honest_axes
def frame_figure(t: Trace, fs: list[Frame], k: int, sample: int = 0) -> go.Figure:
    """The diagram at frame k of fs (frames(t)): done in colour, not yet in grey, frame k in gold."""
    f, sizes = fs[k], t.spec.sizes
    group = GROUPS[f.phase]
    size = node_size(t)
    done = _edges_done(fs, k, group)
    mode = "gradient" if group == "backward" else "weight"
    edges = _edge_values(t, mode)
    all_rows = [row for w in edges for row in w]
    shown = [w if c in done else [] for c, w in enumerate(edges, start=1)]
    waiting = [c for c in range(1, len(sizes)) if c not in done and c not in _direct(t)]
    lines = (_lines(t, f.edges, GOLD, 7), _lines(t, waiting, GREY, 1), _lines(t, _direct(t), "#bbb", 1))
    traces = [tr for tr in lines if tr is not None]
    traces += _edge_traces(shown, sizes, "∂L/∂W" if mode == "gradient" else "W", symmetric_top(all_rows)) + _skips(t)
    fig = go.Figure(traces)
    for c in f.nodes:  # gold rings under the units this frame computes
        n = min(sizes[c], MAX_NODES)
        fig.add_trace(go.Scatter(x=[c] * n, y=_ys(n), mode="markers", hoverinfo="skip", showlegend=False,
                                 marker=dict(size=size + 16, color=GOLD)))
    newest, top = _node_frames(fs, k, group, sizes), _top(fs, group, sizes, sample)
    for c in range(len(sizes)):
        fig.add_trace(_units(c, newest[c], sample, size, top) if c in newest
                      else _grey_units(c, min(sizes[c], MAX_NODES), size))
    fig.add_trace(_colour_bar("gradient" if group == "backward" else "value", top, 1.02))
    if f.phase == "loss":
        fig.add_annotation(x=len(sizes) - 0.55, y=0, text=f"L = {t.loss:.6g}", showarrow=False,
                           font=dict(size=16), bgcolor=GOLD, xanchor="left")
    lay_out(fig, t, right=0.5 if f.phase == "loss" else 0.0)
    return fig
