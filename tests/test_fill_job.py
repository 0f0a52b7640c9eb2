"""The fill job: one per run at a time, through the server's queue; progress, failure and retry say so."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from engine.store.runs import RunStore
from engine.train import fill_job as fj
from engine.train.checkpoints import ReplayError
from engine.train.config import TrainConfig
from engine.train.loop import train
from engine.train.recorder import record

CFG = TrainConfig(dataset="moons", n_samples=120, layers="8:relu,2:identity", epochs=3, batch_size=32,
                  device="cpu", stats_every=4)


@pytest.fixture()
def run(tmp_path: Path):
    store = RunStore(tmp_path / "r.sqlite")
    run_id = None
    for ev in record(train(CFG), store, CFG):
        run_id = ev.data.get("run_id", run_id)
    return store, run_id


@pytest.fixture()
def gate(monkeypatch):
    """fill_health replaced by one that reports progress and waits until the test opens the gate."""
    opened, calls = threading.Event(), []

    def fake(store, run_id, *, stop=None, progress=None, data=None):
        calls.append(run_id)
        progress(3, 9)
        opened.wait(30)
        if stop is not None and stop.is_set():
            raise ReplayError("stopped")
        if run_id == "broken":
            raise ReplayError("the data changed since run broken")
        return type("Fill", (), {"every": 1, "steps": 9, "seconds": 0.1})()

    monkeypatch.setattr(fj, "fill_health", fake)
    return opened, calls


def test_a_second_request_gets_the_running_job(run, gate):
    store, run_id = run
    opened, calls = gate
    job = fj.start_fill(store, run_id)
    assert fj.start_fill(store, run_id) is job and fj.fill_job(store.path, run_id) is job
    for _ in range(100):
        if job.snapshot().done == 3:
            break
        threading.Event().wait(0.05)
    snap = job.snapshot()
    assert (snap.status, snap.done, snap.total) == ("running", 3, 9)
    opened.set()
    assert job.ended.wait(30)
    assert job.snapshot().status == "done" and calls == [run_id]


def test_a_failed_fill_says_why_and_a_new_request_tries_again(run, gate):
    store, _ = run
    opened, calls = gate
    opened.set()
    job = fj.start_fill(store, "broken")
    assert job.ended.wait(30)
    assert job.snapshot().status == "failed" and "data changed" in job.snapshot().message
    again = fj.start_fill(store, "broken")
    assert again is not job and again.ended.wait(30) and calls == ["broken", "broken"]


def test_the_page_shows_the_fill_in_progress(run, gate, tmp_path, monkeypatch):
    store, run_id = run
    opened, _ = gate
    script = (f"from engine.store.runs import RunStore\nfrom ui.health_fill_view import fill_section\n"
              f"fill_section(RunStore({str(store.path)!r}), {run_id!r})\n")
    at = AppTest.from_string(script, default_timeout=30).run()
    try:
        assert not at.exception, [e.value for e in at.exception]
        text = " ".join(p.proto.text for p in at.get("progress"))
        assert "Filling in every step by an exact replay of the run" in text and "3 of 9 steps" in text
    finally:
        opened.set()
        fj.fill_job(store.path, run_id).ended.wait(30)
