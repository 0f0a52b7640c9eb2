"""ui.axes: no SI prefixes ("800T", "60p") on any figure, decades only on log axes, and every builder uses it."""
from __future__ import annotations

import importlib
import inspect
import pkgutil

import plotly.graph_objects as go
from plotly.subplots import make_subplots

import ui
from ui.axes import tidy_axes


def test_every_axis_and_colour_bar_gets_exponents_and_log_axes_get_decades():
    fig = make_subplots(rows=1, cols=2)
    fig.add_trace(go.Scatter(x=[0, 1], y=[1.0, 8e14]), row=1, col=1)
    fig.add_trace(go.Heatmap(z=[[6e-11, 1e-14]]), row=1, col=2)
    fig.update_yaxes(type="log", row=1, col=1)
    fig = tidy_axes(fig)
    layout = fig.to_plotly_json()["layout"]
    axes = {k: v for k, v in layout.items() if k.startswith(("xaxis", "yaxis"))}
    assert set(axes) == {"xaxis", "yaxis", "xaxis2", "yaxis2"}
    assert all(a["exponentformat"] == "e" for a in axes.values())
    assert axes["yaxis"]["dtick"] == 1 and "dtick" not in axes["yaxis2"]
    assert fig.data[1].colorbar.exponentformat == "e"


def _figure_builders():
    """Every function in ui/ whose return annotation names a figure: the things pages draw (not the helpers
    that restyle a figure they are given, like _layout(fig, …): the builder that calls them is checked)."""
    for info in pkgutil.iter_modules(ui.__path__):
        module = importlib.import_module(f"ui.{info.name}")
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            sig = inspect.signature(fn)
            if fn.__module__ == module.__name__ and "Figure" in str(sig.return_annotation) \
                    and "fig" not in sig.parameters:
                yield f"ui.{info.name}.{name}", fn


def test_every_figure_builder_in_ui_sets_the_tick_format():
    builders = dict(_figure_builders())
    assert len(builders) >= 20, sorted(builders)  # the walk found the builders (loss, health, diagram, …)
    assert [name for name, fn in builders.items() if not getattr(fn, "honest_axes", False)] == []


def test_a_line_with_markers_gets_no_colour_bar():
    """plotly.js draws a colour bar for any marker that carries a colorbar object, so setting the bar's tick
    format on every Scatter put a bar of meaningless numbers (1…6, 3…8) beside every loss overlay."""
    fig = go.Figure([go.Scatter(x=[1, 2], y=[0.5, 0.2], mode="lines+markers"),
                     go.Scatter(x=[1, 2], y=[1, 2], mode="markers",
                                marker=dict(color=[0.0, 1.0], colorscale="RdBu", showscale=True))])
    data = tidy_axes(fig).to_plotly_json()["data"]
    assert "colorbar" not in data[0].get("marker", {})
    assert data[1]["marker"]["colorbar"]["exponentformat"] == "e"


def test_a_log_axis_spanning_less_than_two_decades_gets_labelled_1_2_5_ticks():
    """Decades only left a loss overlay of 0.06–0.6 with one label ('0.1'): nothing to read a value by."""
    fig = go.Figure(go.Scatter(x=[1, 2, 3], y=[0.06, 0.2, 0.6]))
    fig.update_yaxes(type="log")
    axis = tidy_axes(fig).layout.yaxis
    shown = [v for v in axis.tickvals if 0.06 <= v <= 0.6]
    assert shown == [0.1, 0.2, 0.5]
    assert dict(zip(axis.tickvals, axis.ticktext, strict=True))[0.2] == "0.2"  # written out: no bare '2'
    assert axis.dtick is None
    wide = go.Figure(go.Scatter(x=[1, 2], y=[1e-3, 10.0]))
    wide.update_yaxes(type="log")
    assert tidy_axes(wide).layout.yaxis.dtick == 1 and tidy_axes(wide).layout.yaxis.tickvals is None


def test_log_ticks_read_typed_arrays_too():
    """Figures send numpy arrays (base64 typed arrays in the JSON); a log axis over 2–4 gets 2, 3 and 4 (of
    1, 2, 5 only 2 lies inside the data)."""
    import numpy as np

    for y in (np.array([2.0, 3.0, 4.0], dtype=np.float32), np.array([2.0, 3.0, 4.0]), [2.0, 3.0, 4.0]):
        fig = go.Figure(go.Scatter(y=y))
        fig.update_yaxes(type="log")
        assert [v for v in tidy_axes(fig).layout.yaxis.tickvals if 2 <= v <= 4] == [2, 3, 4]


def test_a_short_step_axis_ticks_whole_steps_only():
    """A diverged run's health over steps 1 and 2 was ticked 1, 1.2, 1.4 … (there is no step 1.2): a step or
    epoch axis spanning ≤ 10 whole numbers ticks each of them; a long one, or a non-count axis, keeps plotly's."""
    from ui.train_plots import health_figure
    rows = [{"step": s, "layer": 1, "grad_norm": 1.0, "update_ratio": 0.01} for s in (1, 2)]
    fig = health_figure(rows)
    assert fig.layout.xaxis.dtick == 1 and fig.layout.xaxis2.dtick == 1
    long = health_figure([{**rows[0], "step": s} for s in range(1, 500)])
    assert long.layout.xaxis.dtick is None
    other = tidy_axes(go.Figure(go.Scatter(x=[1, 2], y=[1, 2])).update_xaxes(title="w"))
    assert other.layout.xaxis.dtick is None
    fractional = tidy_axes(go.Figure(go.Scatter(x=[0.5, 1.5], y=[1, 2])).update_xaxes(title="epoch"))
    assert fractional.layout.xaxis.dtick is None  # epoch means sit mid-epoch: not a whole-number axis


def test_matched_step_axes_tick_over_their_shared_range():
    """Compare's health grid shares one step axis across layers: layer 4 held one short run (steps 1–8) while
    the others went to step 190, so its axis got a tick at every step — 190 labels piled over the legend
    (tests/browser/test_compare_pictures_browser.py saw the clash). Matched axes decide on all their data."""
    fig = make_subplots(rows=2, cols=2, shared_xaxes="all")
    fig.add_trace(go.Scatter(x=list(range(1, 191)), y=[1.0] * 190), row=1, col=1)
    fig.add_trace(go.Scatter(x=list(range(1, 9)), y=[1.0] * 8), row=2, col=1)
    fig = tidy_axes(fig.update_xaxes(title="step"))
    assert [fig.layout[f"xaxis{i}"].dtick for i in ("", 2, 3, 4)] == [None] * 4
    alone = tidy_axes(make_subplots(rows=1, cols=2).add_trace(go.Scatter(x=[1, 2], y=[1, 2]), row=1, col=2)
                      .add_trace(go.Scatter(x=list(range(300)), y=list(range(300))), row=1, col=1)
                      .update_xaxes(title="step"))
    assert alone.layout.xaxis.dtick is None and alone.layout.xaxis2.dtick == 1  # unmatched axes decide alone
    fixed = tidy_axes(go.Figure(go.Scatter(x=[1, 2], y=[1, 2])).update_xaxes(title="step", range=[0, 500]))
    assert fixed.layout.xaxis.dtick is None  # a fixed range wider than the data counts too


def test_a_narrow_log_axis_gets_at_least_two_labels_inside_its_data():
    """Compare's health panel for one layer spanned 0.6–1.5: of 1, 2, 5 × 10^k only "1" lay inside, the one
    label on the axis. Then every 1…9 × 10^k is ticked; narrower still (1.01–1.09), plotly's own ticks."""
    def ticks(lo, hi):
        fig = go.Figure(go.Scatter(x=[1, 2], y=[lo, hi])).update_yaxes(type="log")
        axis = tidy_axes(fig).layout.yaxis
        return axis.tickvals, axis.ticktext

    vals, text = ticks(0.6, 1.5)
    assert [v for v in vals if 0.6 <= v <= 1.5] == [0.6, 0.7, 0.8, 0.9, 1.0]
    assert dict(zip(vals, text, strict=True))[0.7] == "0.7"
    vals, _ = ticks(0.15, 0.6)  # 0.2 and 0.5 inside: 1, 2, 5 is enough
    assert [v for v in vals if 0.15 <= v <= 0.6] == [0.2, 0.5]
    assert ticks(1.01, 1.09) == (None, None)
