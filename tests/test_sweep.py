"""engine.sweep.executors and ray_exec: grid expansion, and sweeps that land complete runs in the store (local,
processes, Ray)."""
from __future__ import annotations

import pytest
from extras import import_extra

from engine.store.runs import RunStore
from engine.sweep.executors import MAX_POINTS, SweepError, SweepJob, expand_grid, parse_values, run_sweep
from engine.train.config import ConfigError

TINY = {"dataset": "moons", "n_samples": 120, "layers": "8:relu,2:identity", "epochs": 2, "batch_size": 32}


def test_grid_is_the_product_in_order_with_each_config_right():
    configs = expand_grid(TINY, {"optimizer": ["sgd", "adam"], "lr": [0.01, 0.1], "seed": [0, 1],
                                 "batch_size": [16, "full"]})
    assert len(configs) == 16
    points = [(c.optimizer, c.lr, c.seed, c.batch_size) for c in configs]
    assert points[:3] == [("sgd", 0.01, 0, 16), ("sgd", 0.01, 0, "full"), ("sgd", 0.01, 1, 16)]
    assert len(set(points)) == 16
    assert all(c.dataset == "moons" and c.epochs == 2 and c.layers == "8:relu,2:identity" for c in configs)
    assert configs[-1].name == "adam lr=0.1 seed=1 bs=full"


def test_any_trainconfig_field_can_be_swept_and_names_show_only_what_varies():
    configs = expand_grid(TINY, {"optimizer": ["sgd"], "momentum": [0.0, 0.9]})
    assert [c.momentum for c in configs] == [0.0, 0.9]
    assert [c.name for c in configs] == ["mom=0", "mom=0.9"]


@pytest.mark.parametrize("grid, message", [
    ({"optimiser": ["sgd"]}, "unknown sweep setting"),
    ({"lr": []}, "at least one value"),
    ({"seed": list(range(MAX_POINTS + 1))}, "limit"),
])
def test_bad_grids_say_what_to_change(grid, message):
    with pytest.raises(SweepError, match=message):
        expand_grid(TINY, grid)


def test_a_bad_value_is_caught_before_anything_runs():
    with pytest.raises(ConfigError, match="unknown optimizer"):
        expand_grid(TINY, {"optimizer": ["sgd", "adamm"]})


def test_parse_values():
    assert parse_values("0.01, 0.1", float) == [0.01, 0.1]
    with pytest.raises(SweepError, match="comma-separated"):
        parse_values("0.1,x", float, "lrs")


def _check_sweep(store: RunStore, result, n: int) -> None:
    runs = store.runs(sweep_id=result.sweep_id)
    assert len(runs) == n
    assert set(runs["status"]) == {"finished"}
    assert sorted(runs["run_id"]) == sorted(p.run_id for p in result.points)
    epochs = store.epochs(runs["run_id"].tolist())
    assert epochs.groupby("run_id").size().tolist() == [TINY["epochs"]] * n
    assert (runs["duration"] > 0).all()


def test_local_sweep_of_8_points_lands_8_complete_runs(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    configs = expand_grid(TINY, {"optimizer": ["sgd", "adam"], "lr": [0.01, 0.1], "seed": [0, 1]})
    seen = []
    result = run_sweep(configs, store, progress=lambda done, total, p: seen.append((done, total, p.status)))
    assert seen == [(i, 8, "finished") for i in range(1, 9)]
    _check_sweep(store, result, 8)
    runs = store.runs(sweep_id=result.sweep_id)
    assert list(runs["config.optimizer"]) == [c.optimizer for c in configs]
    assert list(runs["config.lr"]) == [c.lr for c in configs]


def test_process_sweep_with_2_workers_matches_the_local_one(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    configs = expand_grid(TINY, {"optimizer": ["sgd", "adam"]})
    local = run_sweep(configs, store)
    procs = run_sweep(configs, store, executor="process", workers=2)
    _check_sweep(store, procs, 2)
    # same seed, same config ⇒ the same numbers, whichever process trained them
    assert [p.summary["val_loss"] for p in procs.points] == [p.summary["val_loss"] for p in local.points]


def test_a_failing_point_is_reported_and_the_rest_still_run(tmp_path, monkeypatch):
    store = RunStore(tmp_path / "runs.sqlite")
    configs = expand_grid({**TINY, "epochs": 1}, {"optimizer": ["sgd", "adam"]})
    configs[0].dataset = "no-such-set"  # slips past expand_grid's check: fails inside the run
    result = run_sweep(configs, store)
    assert [p.status for p in result.points] == ["failed", "finished"]
    assert "no-such-set" in result.points[0].message


def test_unknown_executor_and_missing_ray_say_what_to_do(tmp_path, monkeypatch):
    store = RunStore(tmp_path / "runs.sqlite")
    configs = expand_grid(TINY, {"optimizer": ["sgd"]})
    with pytest.raises(SweepError, match="unknown executor"):
        run_sweep(configs, store, executor="slurm")
    monkeypatch.setitem(__import__("sys").modules, "ray", None)  # as if ray were not installed
    with pytest.raises(SweepError, match="pip install -r requirements-ray.txt"):
        run_sweep(configs, store, executor="ray")


def test_sweep_job_runs_in_the_background(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    job = SweepJob(expand_grid({**TINY, "epochs": 1}, {"optimizer": ["sgd", "adam"]}), store).start()
    job.thread.join(timeout=120)
    snap = job.snapshot()
    assert (snap["status"], snap["done"], snap["total"]) == ("finished", 2, 2)
    assert len(store.runs(sweep_id=job.sweep_id)) == 2


@pytest.mark.slow
def test_ray_sweep_on_a_local_instance_is_recorded_by_the_driver(tmp_path):
    ray = import_extra("ray", "ray is not installed: make ray (pip install -r requirements-ray.txt)")
    store = RunStore(tmp_path / "runs.sqlite")
    configs = expand_grid(TINY, {"optimizer": ["sgd", "adam"], "seed": [0, 1]})
    ray.shutdown()  # a cold start, whatever ran before in this test process
    said = []
    try:
        result = run_sweep(configs, store, executor="ray", phase=said.append)
        _check_sweep(store, result, 4)
        local = run_sweep(configs[:1], store)
        assert result.points[0].summary["val_loss"] == local.points[0].summary["val_loss"]
        # Ray stays up for the next sweep (ray.init's own atexit hook shuts it down): only the first one waits
        assert ray.is_initialized() and said[0].startswith("starting Ray (first sweep only, ~")
        again = []
        _check_sweep(store, run_sweep(configs[:2], store, executor="ray", phase=again.append), 2)
        assert again == ["running on Ray"]
    finally:
        ray.shutdown()  # not for the rest of the test session


def test_a_ray_sweep_says_ray_is_starting_while_ray_init_runs(tmp_path, monkeypatch):
    """ray.init takes a minute on a small machine: the snapshot says so instead of "0 of 2 (last: starting)"."""
    import threading
    import types

    import engine.sweep.ray_exec as ray_exec
    entered, release = threading.Event(), threading.Event()

    def slow_init(**_):
        entered.set()
        release.wait(10)
        raise RuntimeError("fake ray: no cluster")  # ends the sweep once the phase was seen

    fake = types.SimpleNamespace(is_initialized=lambda: False, init=slow_init, shutdown=lambda: None)
    monkeypatch.setattr(ray_exec, "_import_ray", lambda: fake)
    job = SweepJob(expand_grid(TINY, {"optimizer": ["sgd", "adam"]}), RunStore(tmp_path / "runs.sqlite"),
                   executor="ray").start()
    assert entered.wait(10)
    assert job.snapshot()["phase"] == f"starting Ray (first sweep only, ~{ray_exec.RAY_START_S} s)"
    release.set()
    job.thread.join(timeout=10)
    assert job.snapshot()["status"] == "failed"


# A served app runs each sweep on a thread of its own (SweepJob), and that thread ends with the sweep.
RAY_FROM_SWEEP_THREADS = """
import json, os, sys, time
from engine.store.runs import RunStore
from engine.sweep.executors import SweepJob, expand_grid

def gcs_alive() -> bool:  # the local Ray's GCS server: a child of this process, not a zombie
    for stat in os.listdir("/proc"):
        try:
            fields = open(f"/proc/{stat}/stat").read().rsplit(")", 1)[1].split()
            name = open(f"/proc/{stat}/comm").read().strip()
        except (OSError, IndexError):
            continue
        if name.startswith("gcs_server") and int(fields[1]) == os.getpid() and fields[0] != "Z":
            return True
    return False

store, cfgs = RunStore(sys.argv[1]), expand_grid(json.loads(sys.argv[2]), {"optimizer": ["sgd", "adam"]})
for n in (1, 2):
    job = SweepJob(cfgs, store, executor="ray").start()
    job.thread.join(timeout=240)
    time.sleep(2)  # the thread's end reaches Ray's processes as a SIGKILL shortly after join() returns
    snap = job.snapshot()
    print(n, snap["status"], [p.status for p in snap["points"]], "gcs alive", gcs_alive(), flush=True)
    if not gcs_alive():
        os._exit(3)  # Ray would end this process 60 s later ("Failed to connect to GCS")
"""


@pytest.mark.slow
def test_ray_stays_up_after_the_sweep_thread_that_started_it_ends(tmp_path):
    """Ray's local processes die with the thread that ran ray.init (PR_SET_PDEATHSIG): found on the served app,
    where the second Ray sweep hung and Ray then ended the whole server."""
    import json
    import subprocess
    import sys

    from engine.settings import PROJECT_ROOT

    import_extra("ray", "ray is not installed: make ray (pip install -r requirements-ray.txt)")
    out = subprocess.run([sys.executable, "-c", RAY_FROM_SWEEP_THREADS, str(tmp_path / "r.sqlite"), json.dumps(TINY)],
                         cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=400)
    lines = out.stdout.splitlines()
    assert lines == ["1 finished ['finished', 'finished'] gcs alive True",
                     "2 finished ['finished', 'finished'] gcs alive True"], out.stdout + out.stderr[-2000:]
