"""The run store keeps exactly what was written, survives killed writers, and shares the file safely."""
from __future__ import annotations

import math
import multiprocessing
import os
import pickle
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.settings import PROJECT_ROOT
from engine.store.runs import RunStore, StoreError

CONFIG = {"optimizer": "adam", "lr": 0.01, "dataset": "moons", "hidden": [8, 8], "spec": {"seed": 3}}


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    return RunStore(tmp_path / "runs.sqlite")


def run_python(code: str, *args: str, wait: bool = True):
    """Run code in a fresh interpreter that can import engine; argv[1:] are args."""
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    cmd = [sys.executable, "-c", textwrap.dedent(code), *args]
    if wait:
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_round_trip_returns_exactly_what_was_written(store: RunStore):
    run_id = store.create_run(CONFIG, device="cpu", name="adam lr=0.01 moons #1")
    steps = [{"step": i, "epoch": i // 3, "wall": 0.25 * i, "loss": 1.0 / (i + 1), "lr": 0.01}
             for i in range(6)]
    store.log_steps(run_id, steps[:4])
    store.log_steps(run_id, steps[4:])
    store.log_epoch(run_id, {"epoch": 0, "train_loss": 0.7, "val_loss": 0.8, "val_accuracy": 0.5})
    store.log_epoch(run_id, {"epoch": 1, "train_loss": 0.4, "val_loss": 0.5, "val_accuracy": 0.75})
    layers = [{"step": s, "epoch": 0, "layer": layer, "grad_norm": s + layer / 10, "dead_fraction": 0.0}
              for s in (0, 3) for layer in (1, 2)]
    store.log_layer_stats(run_id, layers)
    store.log_histograms(run_id, 0, 1, "weight", [1, 5, 2], [-1.0, -0.5, 0.5, 1.0])
    store.log_histograms(run_id, 0, 1, "grad", [3, 0], [-0.1, 0.0, 0.1])
    store.finish(run_id, "finished", summary={"test_accuracy": 0.875, "final_val_loss": 0.5})

    expected_steps = pd.DataFrame([{"run_id": run_id, **row} for row in steps])
    pd.testing.assert_frame_equal(store.steps([run_id]), expected_steps, check_dtype=False)
    got = store.steps([run_id])
    assert [str(t) for t in got.dtypes[1:]] == ["int64", "int64", "float64", "float64", "float64"]

    epochs = store.epochs([run_id])
    assert list(epochs.columns) == ["run_id", "epoch", "train_loss", "val_loss", "val_accuracy"]
    assert epochs[["epoch", "val_accuracy"]].values.tolist() == [[0, 0.5], [1, 0.75]]

    stats = store.layer_stats([run_id])
    assert list(stats.columns) == ["run_id", "step", "epoch", "layer", "grad_norm", "dead_fraction"]
    assert stats[["step", "layer", "grad_norm"]].values.tolist() == [[0, 1, 0.1], [0, 2, 0.2], [3, 1, 3.1],
                                                                     [3, 2, 3.2]]
    hists = store.histograms(run_id)
    assert hists[["kind", "counts", "edges"]].values.tolist() == [
        ["grad", [3, 0], [-0.1, 0.0, 0.1]], ["weight", [1, 5, 2], [-1.0, -0.5, 0.5, 1.0]]]
    assert store.histograms(run_id, kind="weight")["kind"].tolist() == ["weight"]

    run = store.run(run_id)
    assert (run["name"], run["status"], run["device"], run["pid"]) == ("adam lr=0.01 moons #1", "finished",
                                                                        "cpu", os.getpid())
    assert run["config"] == CONFIG and run["summary"]["test_accuracy"] == 0.875
    assert run["duration"] >= 0 and run["finished"] >= run["created"]


def test_runs_flattens_config_and_summary_one_level(store: RunStore):
    a = store.create_run(CONFIG, device="cpu")
    b = store.create_run({"optimizer": "sgd"}, device="cuda:0")
    store.finish(a, "diverged", summary={"final_val_loss": float("nan")}, message="loss became NaN")
    df = store.runs()
    assert df["run_id"].tolist() == [a, b]  # oldest first
    # an unnamed run is named by what it is, not run-1a184f; with nothing to say, by its id
    assert df.loc[0, "name"] == "adam lr=0.01 moons" and df.loc[1, "name"] == f"run-{b[:6]}"
    for col in ("config.optimizer", "config.lr", "config.dataset", "summary.final_val_loss"):
        assert col in df.columns
    assert df.loc[0, "config.hidden"] == [8, 8] and df.loc[0, "config.spec"] == {"seed": 3}
    assert math.isnan(df.loc[0, "summary.final_val_loss"]) and pd.isna(df.loc[1, "config.lr"])
    assert df["status"].tolist() == ["diverged", "running"]
    assert df.loc[0, "message"] == "loss became NaN"
    assert str(df["created"].dtype).startswith("datetime64") and df["created"].dt.tz is not None
    assert isinstance(df.loc[1, "summary"], dict)


def test_nan_reads_back_as_nan_and_inf_round_trips(store: RunStore):
    run_id = store.create_run({}, device="cpu")
    store.log_steps(run_id, [{"step": 0, "epoch": 0, "wall": 0.0, "loss": float("nan"), "g": float("-inf"),
                              "h": None}])
    row = store.steps([run_id]).iloc[0]
    assert math.isnan(row["loss"]) and row["g"] == float("-inf") and math.isnan(row["h"])


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=20))
def test_any_float_metric_round_trips(values):
    with tempfile.TemporaryDirectory() as tmp:
        s = RunStore(Path(tmp) / "runs.sqlite")
        run_id = s.create_run({}, device="cpu")
        s.log_steps(run_id, [{"step": i, "epoch": 0, "wall": 0.0, "v": v} for i, v in enumerate(values)])
        got = s.steps([run_id])["v"].tolist()
        s.close()
    assert all((math.isnan(a) and math.isnan(b)) or a == b for a, b in zip(got, values, strict=True))


def test_bad_inputs_are_rejected_with_clear_errors(store: RunStore):
    run_id = store.create_run({}, device="cpu")
    with pytest.raises(ValueError, match="'phase' must be a number"):
        store.log_epoch(run_id, {"epoch": 0, "phase": "train"})
    with pytest.raises(ValueError, match="finish status"):
        store.finish(run_id, "done")
    with pytest.raises(ValueError, match="len\\(edges\\)"):
        store.log_histograms(run_id, 0, 0, "weight", [1, 2], [0.0, 1.0])
    with pytest.raises(StoreError, match="no run"):
        store.run("missing")
    with pytest.raises(StoreError, match="no run"):
        store.log_steps("missing", [{"step": 0, "epoch": 0, "wall": 0.0, "loss": 1.0}])


def test_wal_mode_is_on(store: RunStore, tmp_path: Path):
    with sqlite3.connect(tmp_path / "runs.sqlite") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] >= 1


def test_killed_writer_becomes_interrupted_with_its_epochs_kept(store: RunStore):
    code = """
        import os, sys
        from engine.store.runs import RunStore
        s = RunStore(sys.argv[1])
        run_id = s.create_run({"optimizer": "sgd"}, device="cpu")
        for epoch in range(3):
            s.log_epoch(run_id, {"epoch": epoch, "train_loss": 1.0 / (epoch + 1)})
        print(run_id, flush=True)
        os._exit(1)
    """
    result = run_python(code, str(store.path))
    assert result.returncode == 1, result.stderr
    run_id = result.stdout.strip()
    runs = store.runs()
    assert runs.set_index("run_id").loc[run_id, "status"] == "interrupted"
    assert store.epochs([run_id])["epoch"].tolist() == [0, 1, 2]


def test_live_runs_are_not_reaped_until_their_heartbeat_is_stale(tmp_path: Path):
    s = RunStore(tmp_path / "runs.sqlite", stale_after=60)
    run_id = s.create_run({}, device="cpu")
    assert s.reap_interrupted() == 0 and s.run(run_id)["status"] == "running"
    time.sleep(0.01)
    assert s.reap_interrupted(stale_after=0.001) == 1
    assert s.run(run_id)["status"] == "interrupted"


WRITER = """
    import sys, time
    from engine.store.runs import RunStore
    s = RunStore(sys.argv[1])
    run_id = s.create_run({"writer": sys.argv[2]}, device="cpu")
    for start in range(0, 200, 5):
        s.log_steps(run_id, [{"step": i, "epoch": 0, "wall": i * 0.01, "loss": float(i)}
                             for i in range(start, start + 5)])
        time.sleep(0.005)  # spread the writes out so the reader really runs between them
    s.finish(run_id, "finished")
"""


def test_two_writer_processes_and_a_reader_lose_nothing(store: RunStore):
    writers = [run_python(WRITER, str(store.path), name, wait=False) for name in ("a", "b")]
    reads = 0
    while any(w.poll() is None for w in writers) or reads < 3:
        runs = store.runs()  # a reader that raised would fail the test right here
        store.steps(runs["run_id"].tolist())
        reads += 1
    for w in writers:
        assert w.wait() == 0, w.stderr.read()
    runs = store.runs()
    assert sorted(runs["config.writer"]) == ["a", "b"] and set(runs["status"]) == {"finished"}
    steps = store.steps(runs["run_id"].tolist())
    assert steps.groupby("run_id").size().tolist() == [200, 200]
    assert steps.groupby("run_id")["step"].apply(list).map(lambda s: s == list(range(200))).all()


def test_two_threads_write_through_one_store(store: RunStore):
    run_ids = [store.create_run({"thread": i}, device="cpu") for i in range(2)]
    errors: list[BaseException] = []

    def write(run_id: str) -> None:
        try:
            for start in range(0, 200, 4):
                store.log_steps(run_id, [{"step": i, "epoch": 0, "wall": 0.0, "loss": 1.0}
                                         for i in range(start, start + 4)])
        except BaseException as e:  # surfaced to the test thread below
            errors.append(e)

    threads = [threading.Thread(target=write, args=(r,)) for r in run_ids]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        store.steps(run_ids)
    for t in threads:
        t.join()
    assert errors == []
    assert store.steps(run_ids).groupby("run_id").size().to_dict() == {r: 200 for r in run_ids}


def _fork_child_logs(store: RunStore, run_id: str) -> None:
    store.log_epoch(run_id, {"epoch": 7, "train_loss": 0.5})


@pytest.mark.skipif(sys.platform != "linux", reason="fork start method")
def test_a_forked_child_opens_its_own_connection(store: RunStore):
    run_id = store.create_run({}, device="cpu")  # the parent's connection now exists
    child = multiprocessing.get_context("fork").Process(target=_fork_child_logs, args=(store, run_id))
    child.start()
    child.join(30)
    assert child.exitcode == 0
    assert store.epochs([run_id])["epoch"].tolist() == [7]


def test_a_store_pickles_to_its_settings_and_reconnects(store: RunStore):
    run_id = store.create_run({}, device="cpu")
    copy = pickle.loads(pickle.dumps(store))
    assert (copy.path, copy.busy_timeout) == (store.path, store.busy_timeout)
    assert copy.run(run_id)["run_id"] == run_id


def test_locked_database_raises_a_clear_store_error(tmp_path: Path):
    path = tmp_path / "runs.sqlite"
    RunStore(path)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        waiting = RunStore(path, busy_timeout=0.2)
        t0 = time.monotonic()
        with pytest.raises(StoreError, match="another process holds the database; retry") as info:
            waiting.create_run({}, device="cpu")
        assert time.monotonic() - t0 >= 0.15  # it waited for the busy timeout first
        assert str(path) in str(info.value)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert waiting.create_run({}, device="cpu")  # usable once the lock is gone


@pytest.mark.parametrize("garbage", [b"not a database at all " * 200, b"\x00\xff" * 5])
def test_corrupt_file_raises_a_store_error_naming_it(tmp_path: Path, garbage: bytes):
    path = tmp_path / "runs.sqlite"
    path.write_bytes(garbage)
    with pytest.raises(StoreError, match="move it away; a new store will be created") as info:
        RunStore(path)
    assert str(path) in str(info.value)


def test_newer_schema_is_refused(tmp_path: Path):
    path = tmp_path / "runs.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(StoreError, match="schema v99"):
        RunStore(path)


def test_default_path_comes_from_the_environment(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("BACKPROP_LAB_STORE", str(tmp_path / "sub" / "env.sqlite"))
    assert RunStore().path == tmp_path / "sub" / "env.sqlite"
    assert (tmp_path / "sub" / "env.sqlite").exists()


def test_rename(store: RunStore):
    run_id = store.create_run({}, device="cpu")
    store.rename(run_id, "my best run")
    assert store.run(run_id)["name"] == "my best run"
    with pytest.raises(StoreError):
        store.rename("missing", "x")


def test_delete_removes_rows_from_every_table(store: RunStore):
    keep, gone = (store.create_run({}, device="cpu") for _ in range(2))
    for run_id in (keep, gone):
        store.log_steps(run_id, [{"step": 0, "epoch": 0, "wall": 0.0, "loss": 1.0}])
        store.log_epoch(run_id, {"epoch": 0, "val_loss": 1.0})
        store.log_layer_stats(run_id, [{"step": 0, "epoch": 0, "layer": 1, "grad_norm": 1.0}])
        store.log_histograms(run_id, 0, 1, "grad", [1], [0.0, 1.0])
    assert store.delete([gone, "missing"]) == 1
    with sqlite3.connect(store.path) as conn:
        for table in ("runs", "steps", "epochs", "layer_stats", "histograms"):
            ids = {r[0] for r in conn.execute(f"SELECT run_id FROM {table}")}
            assert ids == {keep}, table
    assert store.delete([]) == 0


def test_sweeps_group_runs_and_runs_filters_by_sweep(store: RunStore):
    a1 = store.create_run({"lr": 0.1}, device="cpu", sweep_id="sweep-a")
    a2 = store.create_run({"lr": 0.01}, device="cpu", sweep_id="sweep-a")
    b1 = store.create_run({"lr": 0.1}, device="cpu", sweep_id="sweep-b")
    store.create_run({}, device="cpu")
    store.finish(a1, "finished")
    store.finish(b1, "diverged")
    sweeps = store.sweeps()
    assert sweeps["sweep_id"].tolist() == ["sweep-a", "sweep-b"]
    assert sweeps["n_runs"].tolist() == [2, 1]
    assert sweeps["statuses"].tolist() == [{"finished": 1, "running": 1}, {"diverged": 1}]
    assert store.runs(sweep_id="sweep-a")["run_id"].tolist() == [a1, a2]
    assert store.runs(sweep_id="nothing").empty


def test_log_epoch_can_carry_a_running_summary_that_finish_keeps_without_one(store: RunStore):
    run_id = store.create_run({}, device="cpu")
    store.log_epoch(run_id, {"epoch": 1, "train_loss": 0.5}, summary={"final_train_loss": 0.5, "epochs_done": 1})
    assert store.run(run_id)["summary"] == {"final_train_loss": 0.5, "epochs_done": 1}
    store.finish(run_id, "failed", message="boom")  # no summary given: the running one stays
    assert store.run(run_id)["summary"] == {"final_train_loss": 0.5, "epochs_done": 1}
    store.finish(run_id, "finished", summary={"final_train_loss": 0.25})
    assert store.run(run_id)["summary"] == {"final_train_loss": 0.25}


def test_a_read_only_store_lists_without_writing(store: RunStore):
    """Reaping would write 'interrupted'; a read-only store shows it and leaves the file alone."""
    run_id = store.create_run({}, device="cpu")
    with sqlite3.connect(store.path) as conn:  # as if its process had died long ago
        conn.execute("UPDATE runs SET heartbeat = heartbeat - 1000, pid = 999999999")
    store.close()
    reader = RunStore(store.path, readonly=True)
    assert reader.runs()["status"].tolist() == ["interrupted"]
    with pytest.raises(StoreError, match="readonly|read-only"):
        reader.rename(run_id, "x")
    assert RunStore(store.path).run(run_id)["status"] == "running"  # nothing was written


def test_a_store_that_is_not_a_regular_file_or_missing_is_refused(tmp_path: Path):
    with pytest.raises(StoreError, match="is a directory"):
        RunStore(tmp_path)
    with pytest.raises(StoreError, match="/dev/null is not a regular file"):
        RunStore("/dev/null")
    with pytest.raises(StoreError, match="no run store at"):
        RunStore(tmp_path / "a" / "b.sqlite", create=False)
    with pytest.raises(StoreError, match="no run store at"):
        RunStore(tmp_path / "a" / "b.sqlite", readonly=True)
    assert not (tmp_path / "a").exists()
