"""Sweeps: a grid of TrainConfigs (optimizers × learning rates × seeds × batch sizes × any other field).

Each point is a normal run in the store, grouped under one sweep id. Three executors:
  local    one point after another in this process.
  process  a few worker processes of this process's warm pool (engine.sweep.pool: started once, reused by
           later sweeps, capped); each worker trains AND writes its own run into the store (RunStore pickles
           to its path; SQLite WAL takes concurrent writers), so the runs show up live with heartbeats and
           true durations, and the parent only collects one small result per point.
  ray      each point a Ray task, recorded by this process as it comes back (engine.sweep.ray_exec).
"""
from __future__ import annotations

import itertools
import os
import threading
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing import connection

from engine.store.runs import RunStore
from engine.sweep.points import PointResult, SweepError, consume
from engine.sweep.pool import Worker, WorkerDied, shared_pool
from engine.sweep.ray_exec import run_ray
from engine.train.background import Alive, BackgroundJob
from engine.train.config import TrainConfig
from engine.train.loop import train
from engine.train.recorder import record

__all__ = ["EXECUTORS", "MAX_POINTS", "PointResult", "SweepError", "SweepJob", "SweepResult", "batch_size_value",
           "expand_grid", "new_sweep_id", "parse_values", "run_sweep", "train_point"]

EXECUTORS = ("local", "process", "ray")
MAX_POINTS = 256  # a typo in a grid must not queue thousands of runs


@dataclass
class SweepResult:
    sweep_id: str
    points: list[PointResult]


ProgressFn = Callable[[int, int, PointResult], None]  # (points done, points in all, the point just done)


def new_sweep_id() -> str:
    return f"sw-{uuid.uuid4().hex[:8]}"


def expand_grid(base: dict | TrainConfig | None, grid: dict[str, Sequence]) -> list[TrainConfig]:
    """One checked TrainConfig per point of the product of grid's value lists, in grid order (the last key
    varies fastest). Keys are TrainConfig fields (optimizer, lr, seed, batch_size, momentum, …)."""
    base = base.to_dict() if isinstance(base, TrainConfig) else dict(base or {})
    fields = TrainConfig.__dataclass_fields__
    unknown = [k for k in grid if k not in fields]
    if unknown:
        raise SweepError(f"unknown sweep setting(s): {', '.join(unknown)}; use TrainConfig fields like "
                         "optimizer, lr, seed, batch_size")
    empty = [k for k, values in grid.items() if len(values) == 0]
    if empty:
        raise SweepError(f"give at least one value for: {', '.join(empty)}")
    n = 1
    for values in grid.values():
        n *= len(values)
    if n > MAX_POINTS:
        raise SweepError(f"the grid has {n} points; the limit is {MAX_POINTS}: use fewer values")
    varying = [k for k, values in grid.items() if len(values) > 1] or list(grid)
    configs = []
    for values in itertools.product(*grid.values()):
        point = dict(zip(grid, values, strict=True))
        cfg = TrainConfig.from_dict({**base, **point})
        cfg.name = " ".join(_label(k, point[k]) for k in varying) if varying else base.get("name")
        configs.append(cfg)
    return configs


def parse_values(text: str, convert: Callable = float, what: str = "values") -> list:
    """"0.01, 0.1" → [0.01, 0.1]; convert is applied to each item (float, int, str, …)."""
    try:
        values = [convert(v.strip()) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise SweepError(f"{what}: expected comma-separated values, got {text!r}") from None
    if not values:
        raise SweepError(f"{what}: give at least one value")
    return values


def batch_size_value(text: str) -> int | str:
    """A batch size: a whole number or "full"."""
    return "full" if text == "full" else int(text)


def _label(key: str, value) -> str:
    if key == "optimizer":
        return str(value)
    short = {"batch_size": "bs", "weight_decay": "wd", "momentum": "mom", "lr_schedule": "sched"}.get(key, key)
    return f"{short}={value:g}" if isinstance(value, float) else f"{short}={value}"


def run_sweep(configs: list[TrainConfig], store: RunStore, *, executor: str = "local", workers: int = 2,
              ray_address: str | None = None, sweep_id: str | None = None, progress: ProgressFn | None = None,
              stop: threading.Event | None = None, phase: Callable[[str], None] | None = None) -> SweepResult:
    """Run every config as a run under one sweep id; call progress after each point; return how each ended.
    A point that fails is reported as failed; the others still run. stop: no new points start once set.
    phase: told what the executor is doing before the first point ends (Ray takes a minute to start)."""
    if executor not in EXECUTORS:
        raise SweepError(f"unknown executor {executor!r}; use one of {', '.join(EXECUTORS)}")
    if not configs:
        raise SweepError("the sweep has no points")
    if not (isinstance(workers, int) and 1 <= workers <= 64):
        raise SweepError(f"workers must be 1–64, got {workers!r}")
    sweep_id = sweep_id or new_sweep_id()
    results: list[PointResult] = []

    def report(point: PointResult) -> None:
        results.append(point)
        if progress is not None:
            progress(len(results), len(configs), point)

    run = {"local": _run_local, "process": _run_processes, "ray": run_ray}[executor]
    run(configs, store, sweep_id, report, stop=stop, workers=workers, ray_address=ray_address,
        phase=phase or (lambda _text: None))
    return SweepResult(sweep_id, sorted(results, key=lambda p: p.index))


# ---- one point, recorded where it runs (local and process executors) -----------------------------------

def train_point(cfg_dict: dict, store: RunStore, sweep_id: str, index: int, threads: int | None = None) -> PointResult:
    """Train one config and record it into store under sweep_id (a top-level function: pool workers run it)."""
    if threads:
        import torch
        torch.set_num_threads(threads)
    try:
        cfg = TrainConfig.from_dict(cfg_dict)
    except ValueError as err:  # ConfigError: nothing was stored
        return PointResult(index, cfg_dict.get("name") or "", message=str(err))
    return consume(record(train(cfg), store, cfg, name=cfg.name, sweep_id=sweep_id), index, cfg.name or "")


def _run_local(configs, store, sweep_id, report, *, stop, phase, **_) -> None:
    phase("running here, one run after another")
    for i, cfg in enumerate(configs):
        if stop is not None and stop.is_set():
            report(PointResult(i, cfg.name or "", status="stopped", message="sweep stopped before this point"))
            continue
        report(train_point(cfg.to_dict(), store, sweep_id, i))


def _run_processes(configs, store, sweep_id, report, *, stop, workers, phase, **_) -> None:
    """Each point on a worker of this process's warm pool (engine.sweep.pool); each worker writes its run."""
    wanted = min(workers, len(configs))
    threads = max(1, (os.cpu_count() or 1) // wanted)  # workers × torch threads ≈ cores, not cores²
    todo = deque(enumerate(configs))
    with shared_pool().lease(wanted, phase) as crew:
        phase(f"running on {len(crew)} worker process{'es' if len(crew) > 1 else ''}")
        busy: dict[Worker, tuple[int, TrainConfig]] = {}
        while todo or busy:
            if stop is not None and stop.is_set():
                while todo:
                    i, cfg = todo.popleft()
                    report(PointResult(i, cfg.name or "", status="stopped", message="sweep stopped before this point"))
            for worker in [w for w in crew if w not in busy]:
                if not todo:
                    break
                i, cfg = todo.popleft()
                busy[worker] = (i, cfg)
                try:
                    worker.send(train_point, cfg.to_dict(), store, sweep_id, i, threads)
                except WorkerDied as err:
                    _lost(crew, busy, worker, report, store, err)
            if not crew:  # every worker died: the rest cannot run
                for i, cfg in todo:
                    report(PointResult(i, cfg.name or "", message="not started: the worker processes died"))
                return
            for worker in connection.wait(list(busy), timeout=0.5):
                try:
                    point = worker.receive()
                except WorkerDied as err:
                    _lost(crew, busy, worker, report, store, err)
                    continue
                except RuntimeError as err:  # a bug inside train_point (it catches training errors itself)
                    i, cfg = busy[worker]
                    point = PointResult(i, cfg.name or "", message=f"worker failed: {err}")
                busy.pop(worker)
                report(point)


def _lost(crew: list, busy: dict, worker: Worker, report, store: RunStore, err: WorkerDied) -> None:
    """The worker died on a point: say so in one line, mark its half-written run interrupted, drop the worker."""
    i, cfg = busy.pop(worker)
    crew.remove(worker)
    store.reap_interrupted()  # its run is "running" with a dead pid: now "interrupted", its epochs kept
    report(PointResult(i, cfg.name or "", message=f"{err} while training it; the runs that finished are stored "
                                                  "— run this one again, with fewer workers or the local executor"))


# ---- a sweep on a background thread, for the page to poll ----------------------------------------------

class SweepJob(BackgroundJob):
    """run_sweep on a daemon thread; snapshot() is safe to call from any thread. A process-executor sweep
    takes `workers` of the server's job slots."""

    kind = "sweep"

    def __init__(self, configs: list[TrainConfig], store: RunStore, *, owner: str | None = None,
                 alive: Alive | None = None, **options):
        slots = options.get("workers", 2) if options.get("executor") == "process" else 1
        super().__init__(owner=owner, alive=alive, slots=slots)
        self.configs, self.store, self.options = configs, store, options
        self.sweep_id = options.pop("sweep_id", None) or new_sweep_id()
        self._state = {"status": "running", "done": 0, "total": len(configs), "points": [], "message": "",
                       "phase": "starting"}

    def snapshot(self) -> dict:
        position = self.position
        with self._lock:
            status = "queued" if position is not None else self._state["status"]
            return {**self._state, "status": status, "points": list(self._state["points"]),
                    "sweep_id": self.sweep_id, "position": position}

    def _progress(self, done: int, total: int, point: PointResult) -> None:
        with self._lock:
            self._state["done"] = done
            self._state["points"].append(point)

    def _phase(self, text: str) -> None:
        with self._lock:
            self._state["phase"] = text

    def _work(self) -> None:
        try:
            run_sweep(self.configs, self.store, sweep_id=self.sweep_id, progress=self._progress,
                      stop=self.stop_event, phase=self._phase, **self.options)
            stopped = self.stop_event.is_set()
            status = "stopped" if stopped else "finished"
            message = f"stopped: {self.stop_reason}" if stopped and self.stop_reason else ""
        except Exception as err:  # SweepError (no Ray, …) or a bug: the page shows it
            status, message = "failed", str(err)
        with self._lock:
            self._state["status"], self._state["message"] = status, message

    def release(self) -> None:
        self.configs = []  # the points' summaries stay in the snapshot; the runs are in the store

    def _cancel(self, message: str) -> None:
        with self._lock:
            self._state["status"], self._state["message"] = "stopped", message
