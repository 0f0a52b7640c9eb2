"""engine.sweep.pool and the process executor: workers never run the parent's __main__ script, stay warm between
sweeps, say what they are doing while they start, and a worker that dies costs one point and one clear line."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from engine.settings import PROJECT_ROOT
from engine.store.runs import RunStore
from engine.sweep.executors import SweepJob, expand_grid, run_sweep
from engine.sweep.pool import WorkerPool, shared_pool
from engine.sweep.worker import loaded_modules

TINY = {"dataset": "moons", "n_samples": 60, "layers": "4:relu,2:identity", "loss": "cross_entropy",
        "epochs": 1, "max_steps": 1}

@pytest.fixture(autouse=True, scope="module")
def _stop_the_shared_pool():
    """The process executor's warm workers stay up between sweeps; not for the rest of the test session."""
    yield
    shared_pool().shutdown()


# What `streamlit run app.py` leaves in sys.modules["__main__"] (and what an in-process AppTest leaves after it):
# a module with no __spec__ whose __file__ is a script. Spawned multiprocessing workers re-ran that file; here it
# is a script that may not run in a worker — with concurrent.futures both points died ("terminated abruptly").
UNDER_STREAMLIT = """
import json, sys, types
script, store, base = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
with open(script, "w") as f:
    f.write("import sys; sys.stderr.write('bare mode: the main script ran in a worker'); raise SystemExit(3)")
main = types.ModuleType("__main__")
main.__file__ = script
sys.modules["__main__"] = main
from engine.store.runs import RunStore
from engine.sweep.executors import expand_grid, run_sweep
from engine.sweep.pool import shared_pool
from engine.sweep.worker import loaded_modules
cfgs = expand_grid(base, {"seed": [0, 1]})
res = run_sweep(cfgs, RunStore(store), executor="process", workers=2)
print("statuses", [r.status for r in res.points], [r.message for r in res.points])
with shared_pool().lease(1) as (worker,):
    worker.send(loaded_modules)
    print("streamlit in worker", any(m.split(".")[0] == "streamlit" for m in worker.receive()))
"""


@pytest.mark.slow
def test_workers_do_not_run_the_main_script_nor_import_streamlit(tmp_path):
    args = [str(tmp_path / "app.py"), str(tmp_path / "r.sqlite"), json.dumps(TINY)]
    out = subprocess.run([sys.executable, "-c", UNDER_STREAMLIT, *args], cwd=PROJECT_ROOT, capture_output=True,
                         text=True, timeout=300)
    assert "statuses ['finished', 'finished']" in out.stdout, out.stdout + out.stderr[-2000:]
    assert "streamlit in worker False" in out.stdout, out.stdout
    assert "bare mode" not in out.stderr and "ScriptRunContext" not in out.stderr, out.stderr[-2000:]


def test_a_worker_imports_the_engine_and_not_streamlit():
    pool = WorkerPool(cap=1)
    try:
        with pool.lease(1) as (worker,):
            worker.send(loaded_modules)
            modules = worker.receive()
    finally:
        pool.shutdown()
    assert "engine.train.loop" in modules and "torch" in modules
    assert not [m for m in modules if m.split(".")[0] in ("streamlit", "plotly", "ui", "pages")]


def test_the_pool_is_bounded_reused_and_stops_its_workers():
    pool = WorkerPool(cap=2)
    said = []
    with pool.lease(5, said.append) as crew:  # asks for 5, gets the cap
        assert len(crew) == 2 and said == ["starting 2 worker processes (kept for later sweeps)"]
        first = {w.proc.pid for w in crew}
    with pool.lease(2, said.append) as crew:  # warm: the same processes, nothing started
        assert {w.proc.pid for w in crew} == first and len(said) == 1
        procs = [w.proc for w in crew]
    procs[0].kill()  # dies while idle: the next lease starts a new one instead of handing out a dead one
    procs[0].wait()
    with pool.lease(2, said.append) as crew:
        assert all(w.alive() for w in crew) and procs[0].pid not in {w.proc.pid for w in crew}
        assert said[-1] == "starting 1 worker process (kept for later sweeps)"
        procs += [w.proc for w in crew]
    pool.shutdown()
    assert pool.size() == 0 and all(p.poll() is not None for p in procs)


def _within(seconds: float, done) -> bool:
    deadline = time.monotonic() + seconds
    while not done() and time.monotonic() < deadline:
        time.sleep(0.1)
    return done()


def test_an_idle_worker_exits_after_the_idle_timeout_a_leased_one_does_not_and_the_next_lease_starts_anew():
    pool = WorkerPool(cap=1, idle_s=1.0)
    try:
        with pool.lease(1) as (worker,):
            time.sleep(2.5)  # leased (a long point): not idle, however long it takes
            assert worker.alive()
            worker.send(os.getpid)
            first = worker.receive()
        old = worker.proc
        assert _within(20, lambda: pool.size() == 0), "the idle worker is still in the pool"
        assert old.poll() == 0  # it exited on its own (the pool closed its stdin), not killed
        said = []
        with pool.lease(1, said.append) as (worker,):  # needed again: a new one starts
            worker.send(os.getpid)
            assert worker.receive() != first and said == ["starting 1 worker process (kept for later sweeps)"]
    finally:
        pool.shutdown()


def _phases(job: SweepJob) -> list[str]:
    seen = []
    original = job._phase

    def phase(text: str) -> None:
        seen.append(text)
        original(text)
    job._phase = phase
    return seen


def test_a_second_process_sweep_reuses_the_warm_workers_and_matches_the_local_one(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    configs = expand_grid({**TINY, "max_steps": None, "n_samples": 120, "epochs": 2}, {"optimizer": ["sgd", "adam"]})
    shared_pool().shutdown()  # a cold pool, whatever ran before in this test process
    jobs = []
    for _ in range(2):
        job = SweepJob(configs, store, executor="process", workers=2)
        seen = _phases(job)
        job.start().thread.join(timeout=300)
        jobs.append((job, seen))
    (first, first_said), (second, second_said) = jobs
    assert first_said == ["starting 2 worker processes (kept for later sweeps)", "running on 2 worker processes"]
    assert second_said == ["running on 2 worker processes"]  # no start-up the second time
    pids = [set(store.runs(sweep_id=j.sweep_id)["pid"]) for j, _ in jobs]
    assert pids[1] <= pids[0] and os.getpid() not in pids[0]
    local = run_sweep(configs, store)
    for job, _ in jobs:  # same seed, same config ⇒ the same numbers, whichever process trained them
        snap = job.snapshot()
        assert snap["status"] == "finished"
        points = sorted(snap["points"], key=lambda p: p.index)
        assert [p.summary["val_loss"] for p in points] == [p.summary["val_loss"] for p in local.points]


def test_a_killed_worker_costs_its_point_with_one_line_and_the_finished_runs_stay(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    quick = {**TINY, "max_steps": None, "epochs": 1}
    configs = expand_grid(quick, {"epochs": [1, 10_000]})  # the second trains until killed
    job = SweepJob(configs, store, executor="process", workers=2).start()
    deadline = time.monotonic() + 120
    victim = None
    while victim is None and time.monotonic() < deadline:
        runs = store.runs(sweep_id=job.sweep_id)
        long = runs[(runs["name"] == "epochs=10000") & (runs["status"] == "running")]
        victim = int(long["pid"].iloc[0]) if len(long) else None
        time.sleep(0.2)
    assert victim, "the long run never started"
    os.kill(victim, signal.SIGKILL)  # what the kernel's OOM killer does
    job.thread.join(timeout=60)
    snap = job.snapshot()
    assert snap["status"] == "finished" and snap["done"] == 2
    quick_point, killed = sorted(snap["points"], key=lambda p: p.index)
    assert quick_point.status == "finished"
    assert killed.status == "failed" and "\n" not in killed.message
    assert killed.message.startswith(f"the worker process (pid {victim}) was killed by SIGKILL (out of memory?) "
                                     "while training it; the runs that finished are stored — run this one again")
    runs = store.runs(sweep_id=job.sweep_id).set_index("name")
    assert runs.loc["epochs=1", "status"] == "finished"
    assert runs.loc["epochs=10000", "status"] == "interrupted"  # not left "running" forever
    assert shared_pool().size() >= 1  # the pool lives on; the dead worker is gone from it
