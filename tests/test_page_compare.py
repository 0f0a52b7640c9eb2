"""The Compare page headless (AppTest): empty store, stored runs, a deleted run, a sweep from the form."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from engine.store.runs import RunStore
from engine.sweep.executors import expand_grid, run_sweep
from engine.train.background import BackgroundJob
from engine.train.jobs import JOBS

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "compare.py")
TINY = {"dataset": "moons", "n_samples": 120, "layers": "8:relu,2:identity", "epochs": 2, "batch_size": 32}


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("BACKPROP_LAB_HOME", str(tmp_path))
    monkeypatch.delenv("BACKPROP_LAB_STORE", raising=False)
    return tmp_path


OWNER = "session:compare-test"  # the AppTest session's owner token: the runs _sweep makes are its own


def _sweep(home: Path, optimizers=("sgd", "adam")):
    store = RunStore(home / "runs.sqlite", owner=OWNER)
    return run_sweep(expand_grid(TINY, {"optimizer": list(optimizers)}), store)


def _run() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["run_owner"] = OWNER
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _figures(at) -> list[dict]:
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


def test_empty_store_says_how_to_make_runs(home):
    at = _run()
    assert not at.error
    assert "No runs stored yet" in at.info[0].value and "python -m engine sweep" in at.info[0].value
    assert len(at.get("form")) == 1  # the sweep form is offered


def test_stored_runs_are_tabled_and_the_overlay_draws_the_stores_values(home):
    _sweep(home)
    at = _run()
    store = RunStore(home / "runs.sqlite")
    runs = store.runs()
    assert at.dataframe[0].value["run_id"].tolist() == runs["run_id"].tolist()[::-1]
    assert any("**2 runs selected**" in m.value for m in at.markdown)
    overlay = _figures(at)[0]  # val_loss against epoch by default
    epochs = store.epochs(runs["run_id"].tolist()[::-1])
    for trace in overlay["data"]:
        rows = epochs[epochs["run_id"] == trace["meta"]]
        assert trace["y"] == rows["val_loss"].tolist() and trace["x"] == rows["epoch"].tolist()
    assert overlay["layout"]["yaxis"]["type"] == "log"  # a loss spans decades: one diverged run flattens the rest
    assert "Controlled A/B" in at.success[0].value


def test_runs_on_different_datasets_get_a_warning_above_the_shared_axes(home):
    store = RunStore(home / "runs.sqlite", owner=OWNER)
    grid = {"dataset": ["moons", "circles"], "layers": ["8:relu,2:identity", "4:relu,2:identity"]}
    run_sweep(expand_grid(TINY, grid), store)
    at = _run()
    warnings = [w.value for w in at.warning if "different datasets" in w.value]
    assert len(warnings) == 1 and "circles, moons" in warnings[0]
    # the network axis is a key ('8:relu,2:identity' ran over the next axis); the caption spells it out
    assert any(c.value.startswith("network: **A** = 4") and "**B** = 8" in c.value for c in at.caption)
    assert not any("different datasets" in w.value for w in _run_one_dataset(home).warning)


def _run_one_dataset(home: Path) -> AppTest:
    store = RunStore(home / "runs.sqlite")
    store.delete([rid for rid, d in zip(store.runs()["run_id"], store.runs()["config.dataset"], strict=True)
                  if d == "circles"], by=None)
    return _run()


def test_deleting_a_run_needs_the_confirmation_and_then_it_is_gone(home):
    result = _sweep(home)
    at = _run()
    doomed = result.points[0].run_id
    next(m for m in at.multiselect if m.label == "Runs to delete").set_value([doomed]).run()
    delete = next(b for b in at.button if b.label == "Delete")
    assert delete.disabled  # not confirmed yet
    next(c for c in at.checkbox if c.label.startswith("Yes, delete 1 run")).check().run()
    next(b for b in at.button if b.label == "Delete").click().run()
    assert not at.exception
    assert "Deleted 1 run(s)." in [s.value for s in at.success]
    assert RunStore(home / "runs.sqlite").runs()["run_id"].tolist() == [result.points[1].run_id]
    assert doomed not in at.dataframe[0].value["run_id"].tolist()


def test_a_sweep_started_from_the_form_lands_in_the_store(home):
    at = _run()
    at.multiselect[0].set_value(["sgd", "adam"])
    at.number_input[1].set_value(1)  # epochs
    at.number_input[0].set_value(100)  # samples
    at.text_input[1].set_value("0.1")  # learning rates
    at.button[0].click().run()  # "Start sweep" (the form's submit button)
    assert not at.exception and not at.error
    job = at.session_state["sweep_job"]
    job.thread.join(timeout=120)
    deadline = time.monotonic() + 30
    while "sweep_job" in at.session_state and time.monotonic() < deadline:
        at.run()  # the progress fragment notices the end and reruns the page
    assert not at.exception
    assert any(f"Sweep {job.sweep_id} finished: 2 of 2 runs stored." in s.value for s in at.success)
    swept = RunStore(home / "runs.sqlite").runs(sweep_id=job.sweep_id)
    assert len(swept) == 2 and swept["owner"].tolist() == [OWNER, OWNER]  # the visitor's own runs


def test_a_bad_learning_rate_is_an_error_message_not_a_traceback(home):
    at = _run()
    at.text_input[1].set_value("0.1, fast")
    at.button[0].click().run()
    assert not at.exception
    assert "The sweep was not started" in at.error[0].value


class _FakeSweepJob(BackgroundJob):
    """Stands in for engine.sweep.executors.SweepJob: records the options the form passed, runs nothing (the page
    submits it to the server's job queue like the real one)."""
    seen: list[dict] = []

    def __init__(self, configs, store, *, owner=None, alive=None, **options):
        super().__init__(owner=owner, alive=alive)
        _FakeSweepJob.seen.append(options)

    def _work(self) -> None:
        pass

    def snapshot(self):
        return {"status": "finished", "sweep_id": "sw-fake", "done": 1, "total": 1, "points": [], "message": ""}


@pytest.mark.parametrize("operator_address", [None, "10.1.2.3:6379"])
def test_the_sweep_form_uses_only_the_operators_ray_address(home, monkeypatch, operator_address):
    """A web form never reaches an address a visitor typed: Ray is local, or the operator's setting."""
    import engine.sweep.executors
    if operator_address:
        monkeypatch.setenv("BACKPROP_LAB_RAY_ADDRESS", operator_address)
    else:
        monkeypatch.delenv("BACKPROP_LAB_RAY_ADDRESS", raising=False)
    monkeypatch.setattr(engine.sweep.executors, "SweepJob", _FakeSweepJob)
    _FakeSweepJob.seen.clear()
    at = _run()
    assert not [t.label for t in at.text_input if "address" in t.label.lower() or "ray" in t.label.lower()]
    for t in at.text_input:  # whatever a visitor types anywhere in the form stays out of ray.init
        if "address" in t.label.lower():
            t.set_value("evil.example.invalid:6379")
    next(r for r in at.radio if r.label == "Run on").set_value("ray")
    at.button[0].click().run()
    assert not at.exception
    assert [o["ray_address"] for o in _FakeSweepJob.seen] == [operator_address]
    assert [o["executor"] for o in _FakeSweepJob.seen] == ["ray"]


def test_replay_slider_and_branch_form(home):
    """The slider replays the run at step t (the loss figure marks t); the branch form stores a branch."""
    from engine.train import checkpoints
    store = RunStore(home / "runs.sqlite")
    _sweep(home, optimizers=("sgd",))
    parent = store.runs()["run_id"].iloc[0]
    at = _run()
    slider = at.slider(key="replay_step")
    assert slider.max == 6 and slider.value == 6  # 96 train rows, batch 32: 3 steps × 2 epochs
    at = slider.set_value(4).run()
    assert not at.exception, [e.value for e in at.exception]
    titles = [f.get("layout", {}).get("title", {}).get("text", "") for f in _figures(at)]
    assert any("over the input plane" in t for t in titles) and any("Gradient health" in t for t in titles)
    loss = next(f for f in _figures(at) if "replayed step" in f["layout"]["title"]["text"])
    assert [s["x0"] for s in loss["layout"]["shapes"]] == [4]
    at = at.button[-1].click().run()  # the form's "Branch" (lr and the rest unchanged): queued like any training
    assert not at.exception, [e.value for e in at.exception]
    job = JOBS[at.session_state["branch_job"]]
    job.ended.wait(60)
    at.run()
    assert any("Branch" in s.value and "stored" in s.value for s in at.success)
    families = checkpoints.families(store)
    assert [(p, s) for p, s in families.values() if p is not None] == [(parent, 4)]
    fork = next(f for f in _figures(at) if "family" in f["layout"]["title"]["text"])
    lines = [t for t in fork["data"] if t["mode"] == "lines"]
    assert len(lines) == 2 and lines[1]["x"][0] == 4  # the branch's curve leaves the parent's at step 4
    table = at.run().dataframe[0].value  # the runs table shows the family, newest first
    assert table["branch of"].tolist()[0] == parent and table["branch of"].isna().tolist() == [False, True]
    assert table["at step"].tolist()[0] == 4


class _StartingJob(_FakeSweepJob):
    phase = ""

    def snapshot(self):
        return {"status": "running", "sweep_id": "sw-start", "done": 0, "total": 2, "points": [], "message": "",
                "phase": self.phase, "position": None}


@pytest.mark.parametrize("phase", ["starting Ray (first sweep only, ~30 s)",
                                   "starting 2 worker processes (first sweep only)"])
def test_a_starting_sweep_says_what_it_waits_for(home, phase):
    """Not "0 of 2 (last: starting)" for a minute: the phase the executor reports (tests/test_sweep*.py)."""
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["run_owner"] = OWNER
    job = _StartingJob(None, None)
    job.phase = phase
    at.session_state["sweep_job"] = job
    at.run()
    assert not at.exception
    texts = [p.proto.text for p in at.get("progress")]
    assert texts == [f"Sweep sw-start: 0 of 2 runs done — {phase}"]


def test_the_replayed_runs_health_is_filled_in_at_every_step(home):
    """A run recorded at every 4th step: the replay section fills in every step (an exact replay, queued like a
    training), says so while it runs and after, and the heatmap then has a column for every step."""
    from engine.train.fill_job import fill_job
    store = RunStore(home / "runs.sqlite", owner=OWNER)
    run_sweep(expand_grid({**TINY, "epochs": 4, "stats_every": 4}, {"optimizer": ["sgd"]}), store)
    run_id = store.runs()["run_id"].iloc[0]
    assert sorted(store.layer_stats([run_id])["step"].unique()) == [1, 5, 9, 12]
    at = _run()
    job = fill_job(store.path, run_id)
    assert job is not None
    job.ended.wait(60)
    assert job.snapshot().status == "done", job.snapshot().message
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("every step (12 steps), filled in after the run by an exact replay" in c.value for c in at.caption)
    health = next(f for f in _figures(at) if f["layout"].get("title", {}).get("text", "").startswith("Gradient health"))
    assert json.loads(json.dumps(health["data"][0]["x"])) == list(range(1, 13))
