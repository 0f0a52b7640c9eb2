"""ui.compare_plots: the overlays draw exactly the store's numbers, one colour per run everywhere, the A/B verdict."""
from __future__ import annotations

import math

import pytest

from engine.store.runs import RunStore
from engine.sweep.executors import expand_grid, run_sweep
from ui import compare_plots as cp


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    store = RunStore(tmp_path_factory.mktemp("cmp") / "runs.sqlite")
    base = {"dataset": "moons", "n_samples": 120, "layers": "8:relu,8:relu,2:identity", "epochs": 3,
            "batch_size": 16, "log_every": 2, "stats_every": 3}
    run_sweep(expand_grid(base, {"optimizer": ["sgd", "adam", "rmsprop"]}), store)
    return store


def _ids(store):
    return store.runs()["run_id"].tolist()


@pytest.mark.parametrize("metric, x", [("loss", "step"), ("val_loss", "epoch"), ("val_accuracy", "wall")])
def test_overlay_traces_are_the_stores_values(store, metric, x):
    ids = _ids(store)
    steps, epochs = store.steps(ids), store.epochs(ids)
    names = cp.display_names(store.runs(), ids)
    fig = cp.overlay_figure(cp.overlay_source(steps, epochs, metric), metric, x, names, cp.run_colors(ids))
    assert [t.meta for t in fig.data] == ids
    table = steps if metric == "loss" else epochs
    for trace, rid in zip(fig.data, ids, strict=True):
        rows = table[table["run_id"] == rid].sort_values(x)
        assert list(trace.y) == rows[metric].tolist()
        assert list(trace.x) == rows[x].tolist()
        assert trace.name == names[rid]


def test_overlay_metrics_offer_step_and_epoch_metrics(store):
    ids = _ids(store)
    metrics = cp.overlay_metrics(store.steps(ids), store.epochs(ids))
    assert metrics[0] == "loss" and {"train_loss", "val_loss", "val_accuracy"} <= set(metrics)
    assert not {"run_id", "step", "epoch", "wall"} & set(metrics)


def test_smoothing_keeps_the_raw_line_and_adds_the_ema(store):
    ids = _ids(store)[:1]
    steps = store.steps(ids)
    fig = cp.overlay_figure(steps, "loss", "step", {ids[0]: "a"}, cp.run_colors(ids), smoothing=0.6, log_y=True)
    raw, smooth = fig.data
    assert list(raw.y) == steps["loss"].tolist()
    assert list(smooth.y) == cp.ema(steps["loss"].tolist(), 0.6)
    assert fig.layout.yaxis.type == "log"


def test_ema():
    assert cp.ema([1.0, 3.0, 3.0], 0.5) == [1.0, 2.0, 2.5]
    out = cp.ema([2.0, math.nan, 4.0], 0.5)
    assert out[0] == 2.0 and math.isnan(out[1]) and out[2] == 3.0
    assert cp.ema([1.0, 5.0], 0.0) == [1.0, 5.0]
    with pytest.raises(ValueError):
        cp.ema([1.0], 1.0)


def test_each_run_has_one_colour_in_every_chart(store):
    ids = _ids(store)
    colors = cp.run_colors(ids)
    assert len(set(colors.values())) == len(ids)
    names = cp.display_names(store.runs(), ids)
    overlay = cp.overlay_figure(store.epochs(ids), "val_loss", "epoch", names, colors)
    health = cp.grad_health_figure(store.layer_stats(ids), names, colors)
    for fig in (overlay, health):
        for trace in fig.data:
            assert trace.line.color == colors[trace.meta]
    # a run keeps its colour when others are left out of the selection
    only_last = cp.overlay_figure(store.epochs(ids[-1:]), "val_loss", "epoch", {ids[-1]: "c"}, colors)
    assert only_last.data[0].line.color == colors[ids[-1]]


def test_gradient_health_has_a_panel_per_layer_and_a_line_per_run(store):
    ids = _ids(store)
    stats = store.layer_stats(ids)
    fig = cp.grad_health_figure(stats, cp.display_names(store.runs(), ids), cp.run_colors(ids))
    assert [a.text for a in fig.layout.annotations] == ["layer 1 (W₁)", "layer 2 (W₂)", "layer 3 (W₃)"]
    assert len(fig.data) == 3 * len(ids)
    assert sum(t.showlegend for t in fig.data) == len(ids)
    first = fig.data[0]
    rows = stats[(stats["run_id"] == ids[0]) & (stats["layer"] == 1)].sort_values("step")
    assert list(first.y) == rows["grad_norm"].tolist()
    assert all(fig.layout[f"yaxis{i}" if i > 1 else "yaxis"].type == "log" for i in (1, 2, 3))


def test_runs_table_and_filter(store):
    runs = store.runs()
    table = cp.runs_table(runs)
    assert table["run_id"].tolist() == runs["run_id"].tolist()[::-1]  # newest first
    assert "test accuracy" not in table  # moons has no test split: no all-empty column
    assert table.loc[0, "val loss"] == runs["summary.final_val_loss"].iloc[-1]
    picked = cp.filter_table(table, {"optimizer": ["adam", "sgd"], "batch size": ["16"]})
    assert sorted(picked["optimizer"]) == ["adam", "sgd"]
    assert len(cp.filter_table(table, {"optimizer": []})) == 3


def test_ab_verdict_controlled_when_only_the_optimizer_differs(store):
    configs = store.runs()["config"].tolist()
    kind, sentence = cp.ab_verdict(configs[0], configs[1])
    assert kind == "controlled" and "seed 0" in sentence and "same initial weights" in sentence
    diff = cp.config_diff(configs[0], configs[1])
    assert sorted(diff["setting"]) == ["name", "optimizer"]
    assert diff.set_index("setting").loc["optimizer", "run A"] == "sgd"
    other = {**configs[1], "seed": 1}
    kind, sentence = cp.ab_verdict(configs[0], other)
    assert kind == "uncontrolled" and "seed" in sentence
    assert cp.ab_verdict(configs[0], dict(configs[0]))[0] == "same"


def test_ab_verdict_warns_that_adam_and_adamw_coincide_without_weight_decay():
    adam = {"optimizer": "adam", "weight_decay": 0.0, "seed": 0}
    assert "coincide" in cp.ab_verdict(adam, {**adam, "optimizer": "adamw"})[1]
    assert "coincide" not in cp.ab_verdict(adam, {**adam, "optimizer": "adamw", "weight_decay": 0.01})[1]


def test_axis_titles_say_what_the_number_is_and_over_what(store):
    """Titles like 'val_loss' named a column, not a quantity; the legend says which run, the axis what."""
    assert cp.metric_title("val_loss", ["cross_entropy"] * 2) == "validation loss (mean cross-entropy)"
    assert cp.metric_title("val_loss", ["mse", "cross_entropy"]) == \
        "validation loss (the runs' losses differ: cross_entropy, mse)"
    assert cp.metric_title("val_accuracy", ["mse"]) == "validation accuracy (fraction correct)"
    assert cp.metric_title("loss", ["mse"]) == "loss of one batch (mean squared error)"
    ids = _ids(store)
    names, colors = cp.display_names(store.runs(), ids), cp.run_colors(ids)
    fig = cp.overlay_figure(store.epochs(ids), "val_loss", "epoch", names, colors, losses=["cross_entropy"])
    assert fig.layout.yaxis.title.text == "validation loss (mean cross-entropy)"
    health = cp.grad_health_figure(store.layer_stats(ids), names, colors, stat="update_ratio")
    assert health.layout.yaxis.title.text == "‖ΔW‖/‖W‖"  # the first panel of each row names the quantity
    # every panel has its own step labels (make_subplots' shared x axes left panels above an empty slot bare)
    assert [a.showticklabels for a in (health.layout.xaxis, health.layout.xaxis2, health.layout.xaxis3)] == [True] * 3
    assert [a.matches for a in (health.layout.xaxis2, health.layout.xaxis3)] == ["x", "x"]  # one step range


def test_runs_on_different_datasets_are_named_so_the_page_can_warn(store):
    runs = store.runs()
    ids = _ids(store)
    assert cp.mixed_datasets(runs, ids) == []
    mixed = runs.assign(**{"config.dataset": ["moons", "mnist", "moons"]})
    assert cp.mixed_datasets(mixed, ids) == ["mnist", "moons"]
    assert cp.mixed_datasets(mixed, [ids[0], ids[2]]) == []
