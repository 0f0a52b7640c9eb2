"""TrainingJob: a run on a background thread that a page polls; it stops on request and never lets an
exception escape its thread."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from engine.store.runs import RunStore
from engine.train.config import TrainConfig
from engine.train.jobs import JOBS, TrainingJob, start_job

MOONS = dict(dataset="moons", n_samples=120, layers="8:relu,2:identity", loss="cross_entropy", optimizer="sgd",
             lr=0.1, batch_size=16, epochs=3, val_fraction=0.25, log_every=1)


@pytest.fixture
def thread_errors(monkeypatch):
    """Exceptions that escape any thread during the test."""
    seen = []
    monkeypatch.setattr(threading, "excepthook", lambda args: seen.append(args.exc_value))
    return seen


def wait_done(job: TrainingJob, timeout: float = 60) -> None:
    job.thread.join(timeout)
    assert not job.thread.is_alive(), "the job did not end"


def test_a_job_finishes_and_its_snapshot_shows_the_run(tmp_path: Path, thread_errors):
    store = RunStore(tmp_path / "runs.sqlite")
    job = TrainingJob(TrainConfig(**MOONS), store, name="bg").start()
    wait_done(job)
    s = job.snapshot()
    assert job.done and s.status == "finished" and s.message == "training finished"
    assert s.device == "cpu" and s.total_steps == 3 * 6  # 90 rows / 16 → 6 steps per epoch
    assert [e["epoch"] for e in s.epochs] == [1, 2, 3] and "state" not in s.epochs[0]
    assert s.step == 18 and [d["step"] for d in s.steps] == list(range(0, 19))
    assert set(s.histograms) == {1, 2, 3} and s.layers
    assert s.state is not None and tuple(s.state["linears.0.weight"].shape) == (8, 2)
    assert s.final["test_accuracy"] is None and "model" not in s.final
    run = store.run(s.run_id)
    assert run["status"] == "finished" and run["name"] == "bg"
    assert list(store.epochs([s.run_id])["epoch"]) == [1, 2, 3]
    assert not thread_errors


def test_a_snapshot_is_a_copy_the_worker_does_not_change(thread_errors):
    job = TrainingJob(TrainConfig(**{**MOONS, "epochs": 15}), None).start()
    deadline = time.monotonic() + 30
    while not job.snapshot().epochs and time.monotonic() < deadline:
        time.sleep(0.01)
    early = job.snapshot()
    n_epochs, n_steps = len(early.epochs), len(early.steps)
    wait_done(job)
    assert len(early.epochs) == n_epochs and len(early.steps) == n_steps
    assert len(job.snapshot().epochs) == 15
    assert not thread_errors


def test_stop_ends_the_job_as_stopped(tmp_path: Path, thread_errors):
    store = RunStore(tmp_path / "runs.sqlite")
    job = TrainingJob(TrainConfig(**{**MOONS, "epochs": 5000}), store).start()
    deadline = time.monotonic() + 30
    while job.snapshot().step < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    job.stop()
    wait_done(job, 30)
    s = job.snapshot()
    assert s.status == "stopped" and "stopped by request" in s.message
    assert s.step < 5000 * 6
    assert store.run(s.run_id)["status"] == "stopped"
    assert not thread_errors


@pytest.mark.parametrize("change,message", [
    ({"lr": -1.0}, "learning rate must be > 0"),
    ({"layers": "8:relu,3:identity"}, "3 units but moons has 2 classes"),
    ({"val_fraction": 0.9}, "val_fraction must be 0–0.5"),
])
def test_a_bad_config_fails_the_job_with_the_message(tmp_path: Path, thread_errors, change, message):
    store = RunStore(tmp_path / "runs.sqlite")
    job = TrainingJob(TrainConfig(**{**MOONS, **change}), store).start()
    wait_done(job)
    s = job.snapshot()
    assert job.done and s.status == "failed" and message in s.message
    assert "Traceback" not in s.message
    assert store.runs().empty  # nothing was created for a run that never started
    assert not thread_errors


def test_an_unexpected_error_mid_run_fails_the_job_and_the_stored_run(tmp_path: Path, thread_errors, monkeypatch):
    import engine.train.jobs

    def broken_apply(state, ev, cfg):
        if ev.kind == "epoch":
            raise RuntimeError("page bug")
        original(state, ev, cfg)

    original = engine.train.jobs._apply
    monkeypatch.setattr(engine.train.jobs, "_apply", broken_apply)
    store = RunStore(tmp_path / "runs.sqlite")
    job = TrainingJob(TrainConfig(**MOONS), store).start()
    wait_done(job)
    s = job.snapshot()
    assert s.status == "failed" and "page bug" in s.message
    assert store.run(s.run_id)["status"] == "failed"
    assert not thread_errors


def test_start_job_registers_the_job():
    job_id = start_job(TrainConfig(**{**MOONS, "epochs": 1}), None)
    try:
        job = JOBS[job_id]
        wait_done(job)
        assert job.snapshot().status == "finished"
    finally:
        JOBS.pop(job_id, None)
