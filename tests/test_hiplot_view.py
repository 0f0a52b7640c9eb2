"""ui.hiplot_view: the HiPlot experiment carries the run ids as uids, lr on a log axis, the page's colours."""
from __future__ import annotations

import math

import hiplot as hip
import pandas as pd

from ui.hiplot_view import (
    MAX_TICK_CHARS,
    brushed_runs,
    build_experiment,
    css_rgb,
    hiplot_selection,
    key_notes,
    run_label,
)


def _runs() -> pd.DataFrame:
    return pd.DataFrame({
        "run_id": ["aaaaaa111111", "bbbbbb222222", "cccccc333333"], "name": ["sgd", "adam", "adam"],
        "config.optimizer": ["sgd", "adam", "adam"], "config.lr": [0.01, 0.1, 0.001], "config.seed": [0, 0, 0],
        "config.batch_size": [32, 32, "full"], "summary.final_val_loss": [0.512345678, math.nan, 0.25],
        "summary.test_accuracy": [None, None, None]})


def test_datapoints_are_the_runs_with_their_ids_as_uids():
    exp = build_experiment(_runs(), {"aaaaaa111111": "#636EFA", "bbbbbb222222": "#EF553B"})
    exp.validate()
    assert [dp.uid for dp in exp.datapoints] == ["aaaaaa111111", "bbbbbb222222", "cccccc333333"]
    first = exp.datapoints[0].values
    assert first == {"run": "sgd [aaaaaa]", "optimizer": "sgd", "lr": 0.01, "batch_size": "32", "val_loss": 0.5123}
    assert "val_loss" not in exp.datapoints[1].values  # NaN is left out: the page's JSON stays valid


def test_lr_is_on_a_log_axis_and_constant_or_empty_columns_are_left_out():
    exp = build_experiment(_runs())
    assert exp.parameters_definition["lr"].type == hip.ValueType.NUMERIC_LOG
    columns = set().union(*(dp.values for dp in exp.datapoints))
    assert "seed" not in columns  # the same for every run
    assert "test_accuracy" not in columns  # no run has it
    # leftmost axis (hiplot lays out right to left): a numeric one, whose short ticks fit the 50 px margin
    assert exp.display_data(hip.Displays.PARALLEL_PLOT)["order"][-1] == "lr"


def test_lines_take_the_pages_run_colours():
    exp = build_experiment(_runs(), {"aaaaaa111111": "#636EFA"})
    assert exp.colorby == "run"
    assert exp.parameters_definition["run"].colors == {run_label("sgd", "aaaaaa111111"): "rgb(99, 110, 250)"}
    assert css_rgb("rgb(1, 2, 3)") == "rgb(1, 2, 3)"


def test_brushed_runs():
    ids = ["a", "b", "c"]
    assert brushed_runs(ids, None) == (ids, False)  # no Streamlit runtime: no brush
    assert brushed_runs(ids, ["a", "b", "c"]) == (ids, False)
    assert brushed_runs(ids, ["c", "a"]) == (["a", "c"], True)
    assert brushed_runs(ids, []) == ([], True)  # a brush that holds no run
    assert brushed_runs(ids, ["x", "y"]) == (ids, False)  # left over from other data: ignored


def test_outside_streamlit_there_is_no_component_to_draw():
    assert hiplot_selection(build_experiment(_runs()), key="k") is None


def test_init_schedule_and_nesterov_get_an_axis_when_they_vary():
    runs = _runs().assign(**{"config.init": ["kaiming", "torch", "torch"],
                             "config.lr_schedule": ["constant", "cosine", "cosine"],
                             "config.nesterov": [False, True, False]})
    exp = build_experiment(runs)
    exp.validate()
    assert {k: exp.datapoints[1].values[k] for k in ("init", "lr_schedule", "nesterov")} == {
        "init": "torch", "lr_schedule": "cosine", "nesterov": True}
    constant = build_experiment(runs.assign(**{"config.init": "kaiming"}))
    assert "init" not in set().union(*(dp.values for dp in constant.datapoints))


def test_a_run_stored_before_lr_schedule_existed_shows_constant():
    runs = _runs().assign(**{"config.lr_schedule": [None, "cosine", math.nan]})
    exp = build_experiment(runs)
    assert [dp.values["lr_schedule"] for dp in exp.datapoints] == ["constant", "cosine", "constant"]


def test_loss_columns_are_on_log_axes_so_a_diverged_run_does_not_squash_the_others():
    runs = _runs().assign(**{"summary.final_train_loss": [0.3, 8.45e14, 0.05]})
    exp = build_experiment(runs)
    exp.validate()
    assert exp.parameters_definition["train_loss"].type == hip.ValueType.NUMERIC_LOG
    assert exp.parameters_definition["val_loss"].type == hip.ValueType.NUMERIC_LOG


def test_a_loss_column_with_a_zero_stays_linear():
    exp = build_experiment(_runs().assign(**{"summary.final_train_loss": [0.0, 1.0, 2.0]}))
    assert exp.parameters_definition["train_loss"].type != hip.ValueType.NUMERIC_LOG  # log of 0 has no place


def _axis(exp: hip.Experiment, title: str) -> list[str]:
    """An axis's ticks from bottom to top: hiplot's bundle sorts a categorical axis's values as strings
    (`Array.from(new Set(values.map(String))).sort()`), which Python's sorted() of the same strings matches."""
    return sorted({str(dp.values[title]) for dp in exp.datapoints if title in dp.values})


def test_numbers_on_a_categorical_axis_read_in_numeric_order_with_full_last():
    runs = pd.concat([_runs()] * 2, ignore_index=True).assign(
        run_id=[f"{i}" * 12 for i in range(6)], **{"config.batch_size": [1, 7, 64, 32, 100000, "full"],
                                                   "config.seed": [0, 2, 10, 1, 0, 0]})
    exp = build_experiment(runs)
    exp.validate()
    assert [t.strip() for t in _axis(exp, "batch_size")] == ["1", "7", "32", "64", "100000", "full"]
    assert [t.strip() for t in _axis(exp, "seed")] == ["0", "1", "2", "10"]  # was 0, 1, 10, 2


def test_long_values_become_short_keys_that_the_caption_spells_out():
    """'16:relu,16:relu,2:identity' written along an axis ran over the next axis's labels."""
    layers = ["8:relu,2:identity", "16:relu,16:relu,2:identity", "8:relu,2:identity"]
    exp = build_experiment(_runs().assign(**{"config.layers": layers}))
    exp.validate()
    ticks = [dp.values["network"] for dp in exp.datapoints]
    assert ticks == ["B", "A", "B"]  # keys in the axis's (string) order of the full values
    assert all(len(t) <= MAX_TICK_CHARS for t in ticks)
    assert [dp.values["network (in full)"] for dp in exp.datapoints] == layers  # the table keeps the full text
    assert "network (in full)" in exp.display_data(hip.Displays.PARALLEL_PLOT)["hide"]
    assert key_notes(_runs().assign(**{"config.layers": layers})) == [  # ':' escaped: no emoji shortcodes
        r"network: **A** = 16\:relu,16\:relu,2\:identity · **B** = 8\:relu,2\:identity"]
    assert key_notes(_runs()) == []  # short values are their own ticks
