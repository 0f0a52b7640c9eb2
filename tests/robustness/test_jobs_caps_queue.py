"""The job queue: concurrent trainings capped per server and per session, the rest waiting in order with a
position, a gone session's jobs stopped after the grace period, and an ended job holding no dataset or model."""
from __future__ import annotations

import gc
import threading
import time
import weakref

import pytest
import torch

import engine.train.jobs
import engine.train.loop
from engine.data import Dataset
from engine.sweep.executors import SweepJob, expand_grid
from engine.train.background import BackgroundJob, JobQueue, QueueFull
from engine.train.config import TrainConfig
from engine.train.jobs import TrainingJob
from engine.train.limits import Limits, LimitsError
from engine.train.loop import load_data

MOONS = dict(dataset="moons", n_samples=120, layers="8:relu,2:identity", loss="cross_entropy", optimizer="sgd",
             lr=0.1, batch_size=16, epochs=2, val_fraction=0.25, log_every=1)


class Gate(BackgroundJob):
    """A job that runs until its gate opens (or it is stopped)."""

    def __init__(self, owner: str | None, alive=None):
        super().__init__(owner=owner, alive=alive)
        self.gate, self.started, self.status = threading.Event(), threading.Event(), "queued"

    def _work(self) -> None:
        self.started.set()
        while not (self.gate.is_set() or self.stop_event.is_set()):
            time.sleep(0.005)
        self.status = "stopped" if self.stop_event.is_set() else "finished"

    def _cancel(self, message: str) -> None:
        self.status = message


def _finish(job: Gate) -> None:
    job.gate.set()
    assert job.ended.wait(10)


def _queue(**limits) -> JobQueue:
    return JobQueue(Limits(**{"max_jobs": 2, "max_jobs_per_session": 1, "max_queued": 3, **limits}), check_every=0)


def test_the_caps_hold_and_waiting_jobs_start_in_order():
    q = _queue()
    a, b, c, d = Gate("s1"), Gate("s1"), Gate("s2"), Gate("s3")
    for job in (a, b, c, d):
        q.submit(job)
    assert a.started.wait(10) and c.started.wait(10)
    assert q.running == [a, c]  # b: its session already runs one; d: the server runs two
    assert (a.position, b.position, c.position, d.position) == (None, 1, None, 2)
    _finish(a)  # s1's slot frees: b (first in line) starts; d still waits, now first
    assert b.started.wait(10) and not d.started.is_set()
    assert d.position == 1
    _finish(c)
    assert d.started.wait(10)
    for job in (b, d):
        _finish(job)
    assert q.running == [] and q.waiting == []


def test_a_job_whose_session_is_at_its_cap_does_not_hold_up_others():
    q = _queue(max_jobs=3)
    a, b, c = Gate("s1"), Gate("s1"), Gate("s2")
    for job in (a, b, c):
        q.submit(job)
    assert c.started.wait(10) and b.position == 1
    for job in (a, c, b):
        _finish(job)


def test_a_full_queue_refuses_with_a_message():
    q = _queue(max_jobs=1, max_queued=2)
    jobs = [Gate(f"s{i}") for i in range(3)]
    for job in jobs:
        q.submit(job)  # one runs, two wait
    with pytest.raises(QueueFull, match="2 runs are waiting already \\(the limit is 2\\); try again"):
        q.submit(Gate("s9"))
    for job in jobs:
        job.stop()
    assert all(job.ended.wait(10) for job in jobs)


def test_stopping_a_queued_job_takes_it_out_of_line():
    q = _queue(max_jobs=1)
    a, b, c = Gate("s1"), Gate("s2"), Gate("s3")
    for job in (a, b, c):
        q.submit(job)
    b.stop()
    assert b.ended.is_set() and "waiting in the queue" in b.status and c.position == 1
    for job in (a, c):
        job.stop()
        assert job.ended.wait(10)


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_session_gone_past_the_grace_period_has_its_jobs_stopped_and_forgotten():
    clock, connected = Clock(), {"s1": True, "s2": True}
    q = JobQueue(Limits(max_jobs=1, session_grace_s=60), check_every=0, clock=clock)
    running = TrainingJob(TrainConfig(**{**MOONS, "epochs": 5000}), None, owner="s1", alive=lambda: connected["s1"])
    waiting = Gate("s1", alive=lambda: connected["s1"])
    other = Gate("s2", alive=lambda: connected["s2"])
    ids = [q.submit(job) for job in (running, waiting, other)]
    deadline = time.monotonic() + 30
    while running.snapshot().step < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    connected["s1"] = False  # the tab closed
    assert q.reap() == []
    clock.now += 30
    connected["s1"] = True  # … and came back within the grace period (a reload): the clock restarts
    assert q.reap() == []
    connected["s1"] = False
    assert q.reap() == []
    clock.now += 59
    assert q.reap() == []  # 59 s gone: still within the grace period
    clock.now += 2
    assert set(q.reap()) == {running, waiting}
    running.thread.join(30)
    assert running.snapshot().status == "stopped" and running.snapshot().step < 5000 * 6
    assert "waiting in the queue" in waiting.status
    assert other.started.wait(10)  # the freed slot goes to the session that is still there
    q.reap()  # s1's jobs have ended: forgotten
    assert ids[0] not in q.jobs and ids[1] not in q.jobs and ids[2] in q.jobs
    _finish(other)


def test_a_failing_liveness_check_stops_nothing():
    clock = Clock()
    q = JobQueue(Limits(session_grace_s=0), check_every=0, clock=clock)
    job = Gate("s1", alive=lambda: 1 / 0)
    q.submit(job)
    clock.now += 1000
    assert q.reap() == []
    _finish(job)


def test_an_ended_training_job_holds_neither_its_dataset_nor_its_model(monkeypatch):
    monkeypatch.setattr(engine.train.jobs, "KEEP_DATASET_BYTES", 0)  # treat moons like MNIST: nothing kept
    models = []
    build = engine.train.loop.build_model
    monkeypatch.setattr(engine.train.loop, "build_model", lambda *a, **k: models.append(build(*a, **k)) or models[-1])
    cfg = TrainConfig(**MOONS)
    data = load_data(cfg)
    data_ref = weakref.ref(data)
    job = TrainingJob(cfg, None, data=data).start()
    del data
    assert job.ended.wait(60)
    model_ref = weakref.ref(models.pop())
    gc.collect()
    assert job.snapshot().status == "finished" and len(job.snapshot().epochs) == 2  # the curves stay
    assert data_ref() is None, "the job still holds the dataset"
    assert model_ref() is None, "the job still holds the model"


def test_a_big_dataset_is_cut_to_the_digits_the_page_shows():
    n = 10_000
    x_test = torch.rand(n, 784)
    d = Dataset("mnist", "classification", torch.rand(600, 784), torch.zeros(600, dtype=torch.long),
                torch.rand(0, 784), torch.zeros(0, dtype=torch.long), x_test, torch.zeros(n, dtype=torch.long), 10)
    wrong = [{"index": i, "label": 1, "pred": 2} for i in range(5, 5 + 3 * 50, 3)]  # 50 rows: 5, 8, 11, …
    light, final = engine.train.jobs._keep_shown_digits(d, {"misclassified": wrong, "test_accuracy": 0.9})
    assert light.input_size == 784 and light.task == "classification" and light.x_train.shape[0] == 0
    assert tuple(light.x_test.shape) == (32, 784) and light.x_test.untyped_storage().nbytes() == 32 * 784 * 4
    assert torch.equal(light.x_test[1], x_test[8]) and final["misclassified"][1] == {
        "index": 1, "label": 1, "pred": 2, "test_index": 8}
    assert final["test_accuracy"] == 0.9


def test_a_sweep_takes_its_workers_in_slots_and_waits_like_a_training():
    q = _queue(max_jobs=2, max_jobs_per_session=2)
    blocker = Gate("s1")
    q.submit(blocker)
    configs = expand_grid({**MOONS, "epochs": 1}, {"optimizer": ["sgd"]})
    sweep = SweepJob(configs, None, owner="s2", executor="process", workers=2)
    q.submit(sweep)
    assert sweep.snapshot()["status"] == "queued" and sweep.snapshot()["position"] == 1
    sweep.stop()
    assert sweep.snapshot()["status"] == "stopped"
    _finish(blocker)


@pytest.mark.parametrize("env, message", [
    ({"BACKPROP_LAB_MAX_JOBS": "two"}, "BACKPROP_LAB_MAX_JOBS='two' is not a whole number; use e.g. 2"),
    ({"BACKPROP_LAB_MAX_JOBS_PER_SESSION": "0"}, "BACKPROP_LAB_MAX_JOBS_PER_SESSION=0 is out of range; use 1–10000"),
    ({"BACKPROP_LAB_SESSION_GRACE_S": "nan"}, "BACKPROP_LAB_SESSION_GRACE_S=nan is out of range"),
])
def test_bad_operator_settings_say_which_variable(env, message):
    with pytest.raises(LimitsError, match=message.replace("(", "\\(")):
        Limits.from_env(env)


def test_operator_settings_are_read_from_the_environment():
    assert Limits.from_env({}) == Limits(2, 1, 16, 60.0)
    env = {"BACKPROP_LAB_MAX_JOBS": "4", "BACKPROP_LAB_MAX_JOBS_PER_SESSION": "2", "BACKPROP_LAB_MAX_QUEUED": "0",
           "BACKPROP_LAB_SESSION_GRACE_S": "5"}
    assert Limits.from_env(env) == Limits(4, 2, 0, 5.0)
