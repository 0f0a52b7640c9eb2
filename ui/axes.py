"""One rule for every figure's numbers: exponents, never SI prefixes; log axes label decades only.

Plotly's default tick format is SI ("800T" for a diverged loss of 8e14, "60p" for a gradient of 6e-11,
"10f"): a learner reads "T" and "p" as units. `honest_axes` sets every axis and colour bar to plain
numbers with an exponent past 1e±3 ("8e+14", "6e-11"), and puts a log axis's ticks on whole decades
(no "2" and "5" between them that read like a linear scale). Figure builders carry it as a decorator;
tests/test_axes.py checks that every builder does.
"""
from __future__ import annotations

import functools
import math
import numbers
import re
from collections.abc import Callable

import plotly.graph_objects as go

EXPONENT = "e"  # "8e+14": no SI prefix, and no superscript that a screenshot or hover text loses
COUNTS = ("step", "epoch")  # axes that count: only whole numbers mean something
MAX_UNIT_TICKS = 10  # a count axis spanning at most this many ticks at every whole number
TITLE_ROOM_PX = 64  # under the plot area: tick labels (~20 px) and the x-axis title (~20 px), then a gap


def tidy_axes(fig: go.Figure) -> go.Figure:
    """Exponent tick labels on every cartesian axis and colour bar; whole decades on log axes (1, 2, 5 times a
    decade, each labelled in full, where the data spans fewer than two decade ticks)."""
    def axis(ax, letter: str) -> None:
        ax.update(exponentformat=EXPONENT)
        if ax.type == "log" and ax.dtick is None and ax.tickvals is None:
            ax.update(_log_ticks(_positive_values(fig, letter, ax.plotly_name)))
        elif ax.title.text in COUNTS and ax.dtick is None and ax.tickvals is None:
            shared = _matched(fig, letter, ax.plotly_name)  # matched axes share one range: span all their data
            ax.update(_count_ticks([v for name in shared for v in _values(fig, letter, name)], ax.range))

    fig.for_each_xaxis(lambda ax: axis(ax, "x"))
    fig.for_each_yaxis(lambda ax: axis(ax, "y"))
    for trace in fig.data:
        if "colorbar" in trace:
            trace.update(colorbar_exponentformat=EXPONENT)
        elif "marker" in trace and trace.marker.showscale:
            # only a marker that shows its scale: plotly.js draws a bar for any marker carrying a colorbar
            trace.update(marker_colorbar_exponentformat=EXPONENT)
    return fig


def _values(fig: go.Figure, letter: str, axis_name: str) -> list[float]:
    """The finite x (or y) values of the traces drawn on layout axis axis_name ('yaxis2' ← 'y2')."""
    ref = letter + axis_name[5:]
    values = []
    for trace in fig.data:
        data = getattr(trace, letter, None)  # a list, a tuple or a numpy array (typed arrays in the JSON)
        if (getattr(trace, f"{letter}axis", None) or letter) == ref and data is not None:
            values += [float(v) for v in data if isinstance(v, numbers.Real) and not isinstance(v, bool)
                       and math.isfinite(v)]
    return values


def _matched(fig: go.Figure, letter: str, axis_name: str) -> list[str]:
    """The layout names of the axes drawn over one range with axis_name ('xaxis', 'xaxis3', …): those whose
    `matches` chains end where axis_name's does (make_subplots' shared axes), or axis_name alone."""
    def root(name: str) -> str:
        seen = set()
        while name not in seen:
            seen.add(name)
            ref = fig.layout[name].matches if name in fig.layout else None
            if ref is None:
                return name
            name = letter + "axis" + ref[1:]
        return name

    names = [name for name in fig.layout if re.fullmatch(letter + r"axis\d*", name)]
    group = [name for name in names if root(name) == root(axis_name)]
    return group or [axis_name]


def _positive_values(fig: go.Figure, letter: str, axis_name: str) -> list[float]:
    return [v for v in _values(fig, letter, axis_name) if v > 0]


def _count_ticks(values: list[float], fixed: tuple | None = None) -> dict:
    """A step or epoch axis over a few whole numbers ticks at each of them (plotly would write "1.2", "1.4":
    there is no step 1.2); a longer one — in its data or its fixed range — keeps plotly's own ticks."""
    if not values or any(v != int(v) for v in values):
        return {}
    span = max(values) - min(values)
    if fixed is not None and None not in fixed:
        span = max(span, abs(fixed[1] - fixed[0]))
    return {"dtick": 1} if span <= MAX_UNIT_TICKS else {}


def _log_ticks(values: list[float]) -> dict:
    """dtick = 1 (one tick per decade, log10 units) when the data covers two decade ticks or more; else
    explicit ticks at 1, 2 and 5 × 10^k with their values written out (decades alone left one label), or at
    every 1…9 × 10^k where 1, 2, 5 would put fewer than two inside the data (0.6–1.5 read "1" alone); a span
    narrower still keeps plotly's own ticks."""
    if not values:
        return {"dtick": 1}
    lo, hi = min(values), max(values)
    k_lo, k_hi = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    if sum(lo <= 10.0 ** k <= hi for k in range(k_lo, k_hi + 1)) >= 2:
        return {"dtick": 1}
    for mantissas in ((1, 2, 5), range(1, 10)):
        ticks = [float(f"{m * 10.0 ** k:.1g}") for k in range(k_lo - 1, k_hi + 1) for m in mantissas]
        if sum(lo <= t <= hi for t in ticks) >= 2:
            ticks = [t for t in ticks if lo / 2.5 <= t <= hi * 2.5]  # ticks past the padded range are not drawn
            return {"tickvals": ticks, "ticktext": [f"{t:g}".replace("e-0", "e-").replace("e+0", "e+") for t in ticks]}
    return {}


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
