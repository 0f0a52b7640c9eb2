"""The Ray executor: each grid point is a Ray task on a cluster (ray_address) or on a local Ray instance (None).

The task returns its events as plain dicts — no tensors, no model — and THIS process (the driver) writes them
into the store, so the cluster needs no shared disk. Ray is optional: requirements-ray.txt. Ray is started once
per process and kept (ray shuts itself down at exit): only the first sweep waits for it.
"""
from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from engine.store.runs import RunStore
from engine.sweep.points import PointResult, SweepError, consume
from engine.train.config import TrainConfig
from engine.train.loop import Event, train
from engine.train.recorder import END_KINDS, record

RAY_INSTALL_HINT = "pip install -r requirements-ray.txt"
RAY_START_S = 30  # ray.init + the first tasks' workers, measured on the 2-core machine (README, Sweeps)
_RAY_LOCK = threading.Lock()
_PLAIN_END_KEYS = ("status", "message", "step", "epoch", "wall", "test_accuracy")


def collect_events(cfg_dict: dict) -> dict:
    """Train one config without a store; return {"events": [[kind, data], …], "error", "host", "pid",
    "started"} with plain data only (what a Ray task sends back to the driver)."""
    out = {"events": [], "error": None, "host": socket.gethostname(), "pid": os.getpid(), "started": time.time()}
    try:
        for ev in train(TrainConfig.from_dict(cfg_dict)):
            out["events"].append([ev.kind, _plain(ev)])
    except Exception as err:
        out["error"] = str(err)
    return out


def _plain(ev: Event) -> dict:
    if ev.kind == "start":
        return {k: v for k, v in ev.data.items() if k not in ("model", "dataset")}
    if ev.kind == "epoch":
        return {k: v for k, v in ev.data.items() if k != "state"}
    if ev.kind in END_KINDS:
        return {k: ev.data.get(k) for k in _PLAIN_END_KEYS}
    return ev.data


def record_collected(collected: dict, cfg: TrainConfig, store: RunStore, sweep_id: str, index: int) -> PointResult:
    """Write the events a worker collected into the store (as if trained here); keep the worker's timing."""
    def events() -> Iterator[Event]:
        for kind, data in collected["events"]:
            yield Event(kind, data)
        if collected.get("error"):
            raise RuntimeError(collected["error"])

    point = consume(record(events(), store, cfg, name=cfg.name, sweep_id=sweep_id), index, cfg.name or "")
    if point.run_id:
        _keep_worker_timing(store, point.run_id, collected)
    return point


def _keep_worker_timing(store: RunStore, run_id: str, collected: dict) -> None:
    """Give the replayed run the worker's start time, training duration, host and pid (replay takes ~0 s)."""
    ends = [d for k, d in collected["events"] if k in END_KINDS or k == "epoch"]
    wall = float(ends[-1].get("wall") or 0.0) if ends else 0.0
    store.set_origin(run_id, created=float(collected["started"]), duration=wall, host=collected["host"],
                     pid=int(collected["pid"]))


def _import_ray():
    try:
        import ray
    except ImportError:
        raise SweepError(f"the ray executor needs Ray, which is not installed: {RAY_INSTALL_HINT}") from None
    return ray


def run_ray(configs, store, sweep_id, report, *, stop, ray_address, phase, **_) -> None:
    """Each point a Ray task (collect_events); this process records each one as it comes back."""
    ray = _import_ray()
    _start_ray(ray, ray_address, phase)
    phase("running on Ray")
    task = ray.remote(num_cpus=1, max_retries=0)(collect_events)
    pending = {task.remote(cfg.to_dict()): (i, cfg) for i, cfg in enumerate(configs)}
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
        for ref in done:
            i, cfg = pending.pop(ref)
            try:
                report(record_collected(ray.get(ref), cfg, store, sweep_id, i))
            except Exception as err:  # the task itself failed (worker lost, …)
                report(PointResult(i, cfg.name or "", message=f"ray task failed: {err}"))
        if stop is not None and stop.is_set():
            for ref, (i, cfg) in list(pending.items()):
                ray.cancel(ref)
                pending.pop(ref)
                report(PointResult(i, cfg.name or "", status="stopped", message="sweep stopped"))


def _start_ray(ray, ray_address: str | None, phase: Callable[[str], None]) -> None:
    """ray.init once per process (under a lock: two sweeps may start together); later sweeps reuse it and its
    warm workers, and Ray registers its own shutdown at exit. ray.init runs on a thread that lives as long as
    the process: a local Ray's GCS and raylet get prctl(PR_SET_PDEATHSIG, SIGKILL), which fires when the
    *thread* that started them ends — a sweep's thread ends with its sweep, and 60 s later Ray ended the server."""
    with _RAY_LOCK:
        if ray.is_initialized():
            return
        phase(f"starting Ray (first sweep only, ~{RAY_START_S} s)")
        started, failed = threading.Event(), []

        def init_and_stay() -> None:
            try:
                # py_modules ships the engine package to the workers, so a cluster needs no copy of the project
                ray.init(address=ray_address, include_dashboard=False, log_to_driver=False,
                         runtime_env={"py_modules": [str(Path(__file__).resolve().parents[1])]})
            except Exception as err:  # no cluster at that address, …: the sweep that asked says so
                failed.append(err)
            started.set()
            if not failed:
                threading.Event().wait()  # stay: Ray's processes live while this thread does

        threading.Thread(target=init_and_stay, name="ray-starter", daemon=True).start()
        started.wait()
        if failed:
            raise failed[0]
