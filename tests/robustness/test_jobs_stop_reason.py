"""A job the queue stops because its browser tab closed says so — in the page's status line and in the store —
rather than "stopped by request" (which reads as if the student pressed Stop)."""
from __future__ import annotations

import time

from engine.store.runs import RunStore
from engine.sweep.executors import SweepJob, expand_grid
from engine.train.background import JobQueue
from engine.train.config import TrainConfig
from engine.train.jobs import TrainingJob
from engine.train.limits import Limits

MOONS = dict(dataset="moons", n_samples=120, layers="8:relu,2:identity", loss="cross_entropy", optimizer="sgd",
             lr=0.1, batch_size=16, epochs=5000, val_fraction=0.25, log_every=1)
TAB_CLOSED = "stopped: the browser tab closed"


def _gone_queue() -> JobQueue:
    # grace 0: the first reap after the tab is gone stops its jobs
    return JobQueue(Limits(max_jobs=1, max_jobs_per_session=1, session_grace_s=0), check_every=0)


def test_a_running_training_stopped_for_a_closed_tab_says_so_in_its_state_and_the_store(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    connected = {"s1": True}
    q = _gone_queue()
    running = TrainingJob(TrainConfig(**MOONS), store, owner="s1", alive=lambda: connected["s1"])
    waiting = TrainingJob(TrainConfig(**MOONS), store, owner="s1", alive=lambda: connected["s1"])
    q.submit(running)
    q.submit(waiting)
    deadline = time.monotonic() + 30
    while running.snapshot().step < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    connected["s1"] = False
    assert set(q.reap()) == {running, waiting}
    running.thread.join(30)
    state = running.snapshot()
    assert state.status == "stopped" and state.message.startswith(TAB_CLOSED), state.message
    assert "by request" not in state.message
    assert store.run(state.run_id)["message"].startswith(TAB_CLOSED)
    assert waiting.snapshot().status == "stopped" and waiting.snapshot().message.startswith(TAB_CLOSED)


def test_a_stop_button_still_says_by_request():
    job = TrainingJob(TrainConfig(**MOONS), None).start()
    deadline = time.monotonic() + 30
    while job.snapshot().step < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    job.stop()
    job.thread.join(30)
    assert job.snapshot().message.startswith("stopped by request")


def test_a_sweep_stopped_for_a_closed_tab_says_so(tmp_path):
    connected = {"s1": True}
    q = _gone_queue()
    # the local executor lets a running point finish, so points are short; the stop skips the later ones
    configs = expand_grid({**MOONS, "epochs": 20}, {"lr": [0.1, 0.2, 0.3]})
    sweep = SweepJob(configs, RunStore(tmp_path / "runs.sqlite"), owner="s1", alive=lambda: connected["s1"])
    q.submit(sweep)
    connected["s1"] = False
    assert q.reap() == [sweep]
    assert sweep.ended.wait(30)
    snap = sweep.snapshot()
    assert snap["status"] == "stopped" and snap["message"].startswith(TAB_CLOSED), snap
