"""A training run on a background thread, so a page can poll it (st.fragment(run_every=…)) while the run
goes on — also when the user opens another page. The page reads `snapshot()`; nothing here draws.
Pages start runs through engine.train.background.QUEUE (start_job), which caps how many run at once."""
from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field, replace

import torch

from engine.data import DataError, Dataset
from engine.store.runs import RunStore, StoreError
from engine.train.background import QUEUE, Alive, BackgroundJob
from engine.train.config import ConfigError, TrainConfig
from engine.train.loop import train
from engine.train.recorder import END_KINDS, record

JOBS = QUEUE.jobs  # job id → job, for the pages; the queue forgets a gone session's finished jobs
KEEP_DATASET_BYTES = 4_000_000  # a finished run keeps a dataset up to this size (synthetic sets) for its plots
KEEP_DIGITS = 32  # … and of a bigger one (MNIST) only the misclassified test images the page shows


@dataclass
class JobState:
    status: str = "starting"  # queued | starting | running | finished | diverged | stopped | failed
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
    path: str = ""  # how each step computes its gradients (the start event's "path")


class TrainingJob(BackgroundJob):
    """Runs train() → record() on a daemon thread; thread-safe snapshots for readers."""

    kind = "train"

    def __init__(self, cfg: TrainConfig, store: RunStore | None, *, name: str | None = None, data=None,
                 owner: str | None = None, alive: Alive | None = None, resume: dict | None = None,
                 parent: tuple[str, int] | None = None):
        """resume, parent: a branch's starting state and (parent_id, branch_step) (engine/train/branch.py)."""
        super().__init__(owner=owner, alive=alive)
        self.cfg, self.store, self.name, self.data = cfg, store, name, data
        self.resume, self.parent = resume, parent
        self._state = JobState()

    @property
    def done(self) -> bool:
        return self._state.status in END_KINDS + ("failed",)

    def snapshot(self) -> JobState:
        """A shallow copy whose lists the worker will not mutate afterwards."""
        with self._lock:
            s = self._state
            return JobState(s.status, s.message, s.run_id, s.device, s.total_steps, s.step, s.started,
                            list(s.steps), list(s.epochs), list(s.layers), dict(s.histograms), s.state,
                            dict(s.final), s.dataset, s.path)

    def _work(self) -> None:
        with self._lock:
            if self._state.status == "queued":
                self._state.status = "starting"
        try:
            events = train(self.cfg, stop=self.stop_event, data=self.data, snapshots=True, resume=self.resume)
            for ev in record(self._with_stop_reason(events), self.store, self.cfg, name=self.name,
                             parent=self.parent):
                with self._lock:
                    _apply(self._state, ev, self.cfg)
        except (ConfigError, DataError, StoreError, ValueError) as err:
            self._set_failed(str(err))
        except Exception as err:  # a bug: keep the server alive, show what happened
            self._set_failed(f"unexpected error: {err!r}\n{traceback.format_exc(limit=3)}")

    def _with_stop_reason(self, events):
        """The loop's "stopped by request after step N" becomes "stopped: <reason> after step N" when the
        queue (not the user) stopped the run, before the recorder stores the message."""
        for ev in events:
            if ev.kind == "stopped" and self.stop_reason:
                ev.data["message"] = f"stopped: {self.stop_reason} after step {ev.data.get('step')}"
            yield ev

    def _set_failed(self, message: str) -> None:
        with self._lock:
            self._state.status, self._state.message = "failed", message
        if self.store is not None and self._state.run_id:
            try:
                self.store.finish(self._state.run_id, "failed", message=message)
            except StoreError:
                pass


    def release(self) -> None:
        """The run ended: drop the dataset and everything on the device; keep the curves, the small weight
        snapshot, and of a big dataset only the digits the page shows (so 3 MNIST runs do not keep 3 copies)."""
        self.data = self.resume = None
        with self._lock:
            s = self._state
            if s.dataset is not None and _dataset_bytes(s.dataset) > KEEP_DATASET_BYTES:
                s.dataset, s.final = _keep_shown_digits(s.dataset, s.final)

    def _cancel(self, message: str) -> None:
        with self._lock:
            self._state.status, self._state.message = "stopped", message


def _dataset_bytes(d: Dataset) -> int:
    tensors = [d.x_train, d.y_train, d.x_val, d.y_val, d.x_test, d.y_test]
    return sum(t.numel() * t.element_size() for t in tensors if isinstance(t, torch.Tensor))


def _keep_shown_digits(d: Dataset, final: dict) -> tuple[Dataset, dict]:
    """A Dataset with 0-row splits (name, task, input size and meta stay) whose x_test holds only the first
    KEEP_DIGITS misclassified images; final's misclassified rows point at them (their test row: test_index)."""
    rows = (final.get("misclassified") or [])[:KEEP_DIGITS]
    x_test = None
    if d.x_test is not None and rows:
        x_test = d.x_test[[r["index"] for r in rows]].clone()  # a copy: the slice must not hold the 10 000 images
    empty = {k: getattr(d, k)[:0].clone() for k in ("x_train", "y_train", "x_val", "y_val")}
    light = replace(d, **empty, x_test=x_test, y_test=None)
    kept = [{**r, "index": i, "test_index": r["index"]} for i, r in enumerate(rows)]
    return light, ({**final, "misclassified": kept} if "misclassified" in final else final)


def _apply(s: JobState, ev, cfg: TrainConfig) -> None:
    d = ev.data
    if ev.kind == "start":
        s.status, s.run_id, s.device, s.dataset = "running", d.get("run_id"), d["device"], d["dataset"]
        s.path = d.get("path", "")
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


def start_job(cfg: TrainConfig, store: RunStore | None, *, name: str | None = None, data=None,
              owner: str | None = None, alive: Alive | None = None, resume: dict | None = None,
              parent: tuple[str, int] | None = None) -> str:
    """Submit a job to the server's queue (it runs now or waits its turn); returns its id (the key in JOBS).
    QueueFull when the queue is full. resume, parent: a branch (engine/train/branch.py)."""
    job = TrainingJob(cfg, store, name=name, data=data, owner=owner, alive=alive, resume=resume, parent=parent)
    job._state.status = "queued"
    job_id = QUEUE.submit(job)
    if job.position is not None:  # waiting: do not hold a dataset (MNIST ~220 MB) per queued run; train() reloads
        job.data = None
    return job_id


def progress(step: int, total: int, elapsed: float) -> tuple[float, float | None]:
    """(fraction done in [0, 1], seconds left assuming the remaining steps go as fast as the past ones)."""
    if total <= 0:
        return 0.0, None
    frac = min(max(step / total, 0.0), 1.0)
    eta = elapsed / step * (total - step) if 0 < step < total else (0.0 if step >= total else None)
    return frac, eta
