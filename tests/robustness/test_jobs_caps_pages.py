"""The Train and Compare pages (AppTest) when the server's training slots are taken: the run waits and the
page says where it is in line; Cancel takes it out of the queue."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from engine.train.background import QUEUE, BackgroundJob
from engine.train.jobs import JOBS
from engine.train.limits import Limits

PAGES = Path(__file__).parents[2] / "pages"


class Blocker(BackgroundJob):
    """Another visitor's training: holds a slot until released."""

    def __init__(self):
        super().__init__(owner="someone-else")
        self.gate = threading.Event()

    def _work(self) -> None:
        while not (self.gate.is_set() or self.stop_event.is_set()):
            time.sleep(0.01)


@pytest.fixture
def one_slot_taken(monkeypatch, tmp_path):
    monkeypatch.setenv("BACKPROP_LAB_HOME", str(tmp_path))
    monkeypatch.setattr(QUEUE, "limits", Limits(max_jobs=1, max_jobs_per_session=1, max_queued=4))
    blocker = Blocker()
    QUEUE.submit(blocker)
    yield blocker
    blocker.stop()
    assert blocker.ended.wait(10)


def _train_page() -> AppTest:
    at = AppTest.from_file(str(PAGES / "train.py"), default_timeout=60)
    at.run()
    at.number_input(key="train_n").set_value(200)
    at.number_input(key="train_epochs").set_value(2)
    at.button(key="train_submit").click()
    return at.run()


def test_a_run_beyond_the_server_cap_waits_with_its_position_then_runs(one_slot_taken):
    at = _train_page()
    assert not at.exception
    infos = [i.value for i in at.info]
    assert any(i.startswith("queued: position 1 — the server trains 1 runs at once") for i in infos), infos
    job = JOBS[at.session_state["train_job"]]
    assert job.snapshot().status == "queued" and not job.thread.is_alive()
    one_slot_taken.gate.set()  # the other visitor's run ends: ours starts
    assert job.ended.wait(120)
    at.run()
    assert job.snapshot().status == "finished"
    assert not any(i.startswith("queued") for i in (x.value for x in at.info))
    assert any("Finished on" in s.value for s in at.success)


def test_cancel_takes_a_waiting_run_out_of_the_queue(one_slot_taken):
    at = _train_page()
    job = JOBS[at.session_state["train_job"]]
    at.button(key="train_cancel").click()
    at.run()
    assert job.ended.is_set() and job.snapshot().status == "stopped"
    assert job not in QUEUE.waiting
    assert any("waiting in the queue" in w.value for w in at.warning)


def test_a_sweep_beyond_the_cap_shows_its_position_and_can_be_cancelled(one_slot_taken):
    at = AppTest.from_file(str(PAGES / "compare.py"), default_timeout=60).run()
    at.multiselect[0].set_value(["sgd"])
    at.number_input[1].set_value(1)  # epochs
    at.text_input[1].set_value("0.1")  # learning rates
    at.button[0].click().run()  # "Start sweep"
    assert not at.exception and not at.error
    job = at.session_state["sweep_job"]
    infos = [i.value for i in at.info]
    assert any(i.startswith("queued: position 1 — the server runs 1 trainings at once") for i in infos), infos
    at.button(key="sweep_stop").click().run()
    assert job.ended.is_set() and job.snapshot()["status"] == "stopped"
    at.run()
    assert not at.exception and "sweep_job" not in at.session_state
