"""A training run on a background thread, so a page can poll it (st.fragment(run_every=…)) while the run
goes on — also when the user opens another page. The page reads `snapshot()`; nothing here draws."""
from __future__ import annotations

import threading
import time
import traceback
from dataclasses import dataclass, field

from engine.data import DataError
from engine.recorder import END_KINDS, record
from engine.runs import RunStore, StoreError
from engine.train import train
from engine.train_config import ConfigError, TrainConfig

JOBS: dict[str, TrainingJob] = {}  # job id → job; lives as long as the server process
_JOBS_LOCK = threading.Lock()


@dataclass
class JobState:
    status: str = "starting"  # starting | running | finished | diverged | stopped | failed
    message: str = ""
    run_id: str | None = None
    device: str = ""
    total_steps: int = 0
    step: int = 0
    started: float = field(default_factory=time.time)
    steps: list = field(default_factory=list)  # {step, epoch, wall, loss}
    epochs: list = field(default_factory=list)  # epoch rows without the weight snapshot
    layers: list = field(default_factory=list)  # per-layer stats rows
    histograms: dict = field(default_factory=dict)  # epoch → rows
    state: dict | None = None  # latest weight snapshot (CPU tensors)
    final: dict = field(default_factory=dict)  # the end event's report (test accuracy, confusion …)
    dataset: object = None


class TrainingJob:
    """Runs train() → record() on a daemon thread; thread-safe snapshots for readers."""

    def __init__(self, cfg: TrainConfig, store: RunStore | None, *, name: str | None = None, data=None):
        self.cfg, self.store, self.name, self.data = cfg, store, name, data
        self.stop_event = threading.Event()
        self._lock = threading.Lock()
        self._state = JobState()
        self.thread = threading.Thread(target=self._run, daemon=True, name="backprop-lab-train")

    def start(self) -> TrainingJob:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stop_event.set()

    @property
    def done(self) -> bool:
        return self._state.status in END_KINDS + ("failed",)

    def snapshot(self) -> JobState:
        """A shallow copy whose lists the worker will not mutate afterwards."""
        with self._lock:
            s = self._state
            return JobState(s.status, s.message, s.run_id, s.device, s.total_steps, s.step, s.started,
                            list(s.steps), list(s.epochs), list(s.layers), dict(s.histograms), s.state,
                            dict(s.final), s.dataset)

    def _run(self) -> None:
        try:
            events = train(self.cfg, stop=self.stop_event, data=self.data, snapshots=True)
            for ev in record(events, self.store, self.cfg, name=self.name):
                with self._lock:
                    _apply(self._state, ev, self.cfg)
        except (ConfigError, DataError, StoreError, ValueError) as err:
            self._set_failed(str(err))
        except Exception as err:  # a bug: keep the server alive, show what happened
            self._set_failed(f"unexpected error: {err!r}\n{traceback.format_exc(limit=3)}")

    def _set_failed(self, message: str) -> None:
        with self._lock:
            self._state.status, self._state.message = "failed", message
        if self.store is not None and self._state.run_id:
            try:
                self.store.finish(self._state.run_id, "failed", message=message)
            except StoreError:
                pass


def _apply(s: JobState, ev, cfg: TrainConfig) -> None:
    d = ev.data
    if ev.kind == "start":
        s.status, s.run_id, s.device, s.dataset = "running", d.get("run_id"), d["device"], d["dataset"]
        s.total_steps = d["steps_per_epoch"] * cfg.epochs
        if cfg.max_steps:
            s.total_steps = min(s.total_steps, cfg.max_steps)
    elif ev.kind == "step":
        s.steps.append(d)
        s.step = d["step"]
    elif ev.kind == "layers":
        s.layers.extend(d["rows"])
    elif ev.kind == "epoch":
        s.state = d.get("state")
        s.epochs.append({k: v for k, v in d.items() if k != "state"})
        s.step = d["step"]
    elif ev.kind == "histograms":
        s.histograms[d["epoch"]] = d["rows"]
    elif ev.kind in END_KINDS:
        s.status, s.message = ev.kind, d.get("message", "")
        s.final = {k: v for k, v in d.items() if k != "model"}
        if d.get("store_error"):
            s.message += f" (not stored: {d['store_error']})"


def start_job(cfg: TrainConfig, store: RunStore | None, *, name: str | None = None, data=None) -> str:
    """Start a job and register it; returns its id (the key in JOBS)."""
    job = TrainingJob(cfg, store, name=name, data=data).start()
    job_id = f"job-{id(job):x}"
    with _JOBS_LOCK:
        JOBS[job_id] = job
    return job_id


def progress(step: int, total: int, elapsed: float) -> tuple[float, float | None]:
    """(fraction done in [0, 1], seconds left assuming the remaining steps go as fast as the past ones)."""
    if total <= 0:
        return 0.0, None
    frac = min(max(step / total, 0.0), 1.0)
    eta = elapsed / step * (total - step) if 0 < step < total else (0.0 if step >= total else None)
    return frac, eta
