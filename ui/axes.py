"""One rule for every figure's numbers: exponents, never SI prefixes; log axes label decades only.

Plotly's default tick format is SI ("800T" for a diverged loss of 8e14, "60p" for a gradient of 6e-11,
"10f"): a learner reads "T" and "p" as units. `honest_axes` sets every axis and colour bar to plain
numbers with an exponent past 1e±3 ("8e+14", "6e-11"), and puts a log axis's ticks on whole decades
(no "2" and "5" between them that read like a linear scale). Figure builders carry it as a decorator;
tests/test_axes.py checks that every builder does.
"""
from __future__ import annotations

import functools
from collections.abc import Callable

import plotly.graph_objects as go

EXPONENT = "e"  # "8e+14": no SI prefix, and no superscript that a screenshot or hover text loses
TITLE_ROOM_PX = 64  # under the plot area: tick labels (~20 px) and the x-axis title (~20 px), then a gap


def tidy_axes(fig: go.Figure) -> go.Figure:
    """Exponent tick labels on every cartesian axis and colour bar; whole decades on log axes."""
    def axis(ax) -> None:
        ax.update(exponentformat=EXPONENT)
        if ax.type == "log" and ax.dtick is None:
            ax.update(dtick=1)  # one tick per decade: log10 units

    fig.for_each_xaxis(axis)
    fig.for_each_yaxis(axis)
    for trace in fig.data:
        if "colorbar" in trace:
            trace.update(colorbar_exponentformat=EXPONENT)
        elif "marker" in trace and trace.marker.showscale:
            # only a marker that shows its scale: plotly.js draws a bar for any marker carrying a colorbar
            trace.update(marker_colorbar_exponentformat=EXPONENT)
    return fig


def legend_below(plot_px: float) -> dict:
    """A horizontal legend starting TITLE_ROOM_PX under a plot area plot_px tall: clear of the x-axis title.
    (Plotly places legends in fractions of the plot area, so a fixed fraction lands on the title when the
    figure is short.) plotly.js widens the bottom margin to fit it."""
    return dict(orientation="h", yanchor="top", y=-TITLE_ROOM_PX / plot_px)


def honest_axes(builder: Callable) -> Callable:
    """Decorate a figure builder (returning a figure, or a tuple whose first item is one) with tidy_axes."""
    @functools.wraps(builder)
    def build(*args, **kwargs):
        out = builder(*args, **kwargs)
        if isinstance(out, tuple):
            return (tidy_axes(out[0]), *out[1:])
        return tidy_axes(out)

    build.honest_axes = True
    return build
