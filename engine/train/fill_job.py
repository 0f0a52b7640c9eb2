"""Filling in a run's every-step health (engine/train/health_fill.py) as a background job of the server's queue:
it replays a whole run, so it counts against the same caps as a training. One fill per run at a time: a second
visitor asking for the same run's fill gets the job already running."""
from __future__ import annotations

import threading
import traceback
from dataclasses import dataclass

from engine.data import DataError
from engine.store.runs import StoreError
from engine.train.background import QUEUE, Alive, BackgroundJob
from engine.train.checkpoints import ReplayError
from engine.train.config import ConfigError
from engine.train.health_fill import fill_health


@dataclass
class FillState:
    status: str = "queued"  # queued | running | done | failed | stopped
    done: int = 0  # steps replayed so far
    total: int = 0  # steps to replay
    message: str = ""


class FillJob(BackgroundJob):
    kind = "fill"

    def __init__(self, store, run_id: str, *, owner: str | None = None, alive: Alive | None = None):
        super().__init__(owner=owner, alive=alive)
        self.store, self.run_id = store, run_id
        self._state = FillState()

    def snapshot(self) -> FillState:
        with self._lock:
            return FillState(**vars(self._state))

    def _progress(self, done: int, total: int) -> None:
        with self._lock:
            self._state.done, self._state.total = done, total

    def _work(self) -> None:
        with self._lock:
            self._state.status = "running"
        try:
            fill = fill_health(self.store, self.run_id, stop=self.stop_event, progress=self._progress)
            status, message = "done", f"every {fill.every} step(s): {fill.steps} steps in {fill.seconds:.1f} s"
        except (ReplayError, ConfigError, DataError, StoreError, ValueError) as err:
            stopped = self.stop_event.is_set()
            status, message = ("stopped", "stopped before it finished") if stopped else ("failed", str(err))
        except Exception as err:  # a bug: keep the server up and say what happened
            status, message = "failed", f"unexpected error: {err!r}\n{traceback.format_exc(limit=3)}"
        with self._lock:
            self._state.status, self._state.message = status, message

    def _cancel(self, message: str) -> None:
        with self._lock:
            self._state.status, self._state.message = "stopped", message


_FILLS: dict[tuple[str, str], FillJob] = {}  # (store file, run id) → its latest fill job
_LOCK = threading.Lock()
KEEP_ENDED = 256  # ended fill jobs remembered (their messages); older ones are forgotten


def start_fill(store, run_id: str, *, owner: str | None = None, alive: Alive | None = None) -> FillJob:
    """The run's fill job: the one already queued or running, else a new one submitted to the server's queue
    (QueueFull when it is full). A failed or stopped fill is tried again only by a new call after it ended."""
    key = (str(store.path), run_id)
    with _LOCK:
        job = _FILLS.get(key)
        if job is not None and not job.ended.is_set():
            return job
        ended = [k for k, j in _FILLS.items() if j.ended.is_set()]
        for k in ended[:max(0, len(ended) - KEEP_ENDED)]:
            del _FILLS[k]
        job = _FILLS[key] = FillJob(store, run_id, owner=owner, alive=alive)
    try:
        QUEUE.submit(job)
    except BaseException:  # QueueFull: not queued, so not this run's fill job either
        with _LOCK:
            _FILLS.pop(key, None)
        raise
    return job


def fill_job(store_path, run_id: str) -> FillJob | None:
    """The run's latest fill job in this process, if any."""
    with _LOCK:
        return _FILLS.get((str(store_path), run_id))
