"""Bad CLI input → exit status 2 and exactly one line on stderr, never a traceback, a hang or a memory blow-up.

The table runs in ONE child process (one torch import, ~60× cheaper than a process per case) that is
held under RLIMIT_AS, with a SIGALRM per case: a regression that reads /dev/zero, inflates a gzip bomb or
blocks on a FIFO fails its row instead of eating the machine. The child records each case's exit
status, stderr and the growth of its peak RSS (ru_maxrss only grows, so a case that allocates more
than every earlier one shows up as growth).
"""
from __future__ import annotations

import gc
import gzip
import json
import os
import re
import resource
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli import main
from engine.settings import PROJECT_ROOT
from engine.store.runs import RunStore

CHILD_ADDRESS_SPACE = 4 << 30  # the child maps ~0.9 GB after imports; the bad inputs asked for 4–7 GB
CASE_SECONDS = 20
BOUNDED_MB = 300  # peak-RSS growth allowed for the cases that used to read unbounded input

_DRIVER = r"""
import contextlib, io, json, resource, signal, sys, traceback
from engine.cli import main

class Hang(Exception):
    pass

def alarm(*_):
    raise Hang()

signal.signal(signal.SIGALRM, alarm)
cases, results = json.load(open(sys.argv[1])), []
for argv in cases:
    out, err = io.StringIO(), io.StringIO()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    signal.alarm(int(sys.argv[3]))
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        except Hang:
            code = "hang"
        except BaseException:
            traceback.print_exc()  # what the interpreter would print for an uncaught exception
            code = 1
    signal.alarm(0)
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    results.append({"code": code, "out": out.getvalue(), "err": err.getvalue(), "grown_mb": grown / 1024})
json.dump(results, open(sys.argv[2], "w"))
"""


def _write_gzip_bomb(path: Path, inflated_mb: int) -> None:
    """A gzip member of zeros written chunk by chunk: ~1 MB on disk, never whole in memory."""
    chunk = bytes(1 << 20)
    with gzip.open(path, "wb", compresslevel=1) as f:
        for _ in range(inflated_mb):
            f.write(chunk)


def _files(root: Path) -> dict[str, str]:
    """The inputs the table refers to as {name}."""
    f = {"tmp": str(root)}
    os.mkfifo(root / "fifo")
    f["fifo"] = str(root / "fifo")
    (root / "dir").mkdir()
    f["dir"] = str(root / "dir")
    (root / "deep.json").write_text("[" * 100_000)
    (root / "long_int.json").write_text('{"input_size": ' + "7" * 4400 + ', "layers": [{"units": 1}]}')
    with open(root / "big.json", "w") as fh:  # 2 MB of valid JSON: refused by size, before parsing
        fh.write('{"name": "' + "x" * (2 << 20) + '"}')
    (root / "not_sqlite.sqlite").write_bytes(b"this is not a database\n" * 100)
    store = RunStore(root / "good.sqlite")
    store.close()
    (root / "ragged.csv").write_text("a,b\n1,2\n3,4,5\n6,7\n")
    with open(root / "huge.csv", "wb") as fh:  # a sparse 300 MB file: refused by its size, never read
        fh.write(b"a,b\n")
        fh.truncate(300 << 20)
    with open(root / "many_rows.csv", "w") as fh:  # 4 MB, but over the row limit
        fh.write("a,b\n" + "1,2\n" * 1_000_001)
    mnist = root / "mnist"
    mnist.mkdir()
    _write_gzip_bomb(mnist / "train-images-idx3-ubyte.gz", inflated_mb=512)  # 8× the cap
    for name in ("train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (mnist / name).write_bytes(b"\0\0\x08\x01\0\0\0\0")
    return f


_CSV = ["train", "--dataset", "csv", "--target", "b", "--layers", "1:identity", "--loss", "mse", "--lr", "0.1",
        "--no-store", "--csv"]
_SWEEP = ["sweep", "--layers", "2:identity", "--epochs", "1", "--store", "{tmp}/sweep.sqlite", "--dataset"]

# (case id, argv with {file} placeholders, stderr regex, bounded memory?)
TABLE = [
    ("store-is-dir", ["runs", "list", "--store", "{dir}"], r"run store .*is a directory", False),
    ("store-dev-null", ["runs", "list", "--store", "/dev/null"], r"run store /dev/null is not a regular file", False),
    ("store-not-sqlite", ["runs", "list", "--store", "{tmp}/not_sqlite.sqlite"], r"not a SQLite database", False),
    ("train-store-is-dir", ["train", "--dataset", "moons", "--layers", "2:identity", "--lr", "0.1", "--store", "{dir}"],
     r"run store .*is a directory", False),
    ("sweep-store-dev-null", ["sweep", "--dataset", "moons", "--layers", "2:identity", "--store", "/dev/null"],
     r"run store /dev/null is not a regular file", False),
    ("rename-missing-id", ["runs", "rename", "nope", "x", "--store", "{tmp}/good.sqlite"], r"no run 'nope'", False),
    ("rename-missing-store", ["runs", "rename", "a", "b", "--store", "{tmp}/absent/x.sqlite"],
     r"no run store at .*absent/x\.sqlite", False),
    ("spec-nested", ["inspect", "--spec", "{tmp}/deep.json"], r"spec .*nested too deeply", False),
    ("spec-dev-zero", ["inspect", "--spec", "/dev/zero"], r"spec file /dev/zero is not a regular file", True),
    ("spec-fifo", ["inspect", "--spec", "{fifo}"], r"spec file .*fifo is not a regular file", False),
    ("spec-dir", ["inspect", "--spec", "{dir}"], r"spec file .*dir is a directory", False),
    ("spec-too-big", ["inspect", "--spec", "{tmp}/big.json"], r"spec file .* is 2\.0 MB; the limit is 1\.0 MB", True),
    ("spec-long-int", ["inspect", "--spec", "{tmp}/long_int.json"], r"number too long", False),
    ("inspect-bad-flag", ["inspect", "--bogus"], r"^error: unrecognized arguments: --bogus", False),
    ("inspect-bad-choice", ["inspect", "--preset", "nope"], r"^error: argument --preset: invalid choice", False),
    ("runs-bad-flag", ["runs", "--bogus"], r"^error: unrecognized arguments: --bogus", False),
    ("runs-bad-action", ["runs", "frob"], r"^error: argument action: invalid choice: 'frob'", False),
    ("no-command", [], r"^error: the following arguments are required: command", False),
    ("bad-command", ["frob"], r"^error: argument command: invalid choice: 'frob'", False),
    ("csv-ragged", [*_CSV, "{tmp}/ragged.csv"], r"could not read the CSV .*line 3", False),
    ("csv-fifo", [*_CSV, "{fifo}"], r"CSV file .*fifo is not a regular file", False),
    ("csv-dev-zero", [*_CSV, "/dev/zero"], r"CSV file /dev/zero is not a regular file", True),
    ("csv-too-big", [*_CSV, "{tmp}/huge.csv"], r"CSV file .* is 300\.0 MB; the limit is 100\.0 MB", True),
    ("csv-too-many-rows", [*_CSV, "{tmp}/many_rows.csv"], r"more than 1000000 rows", True),
    ("mnist-gzip-bomb", ["train", "--dataset", "mnist", "--mnist-dir", "{tmp}/mnist", "--layers", "10:identity",
                         "--lr", "0.1", "--no-store"], r"inflates to more than 64\.0 MB", True),
    ("regression-too-big", ["train", "--dataset", "regression", "--true-w", ",".join(["1"] * 1000), "--n-samples",
                            "1000000", "--layers", "1:identity", "--loss", "mse", "--lr", "0.1", "--no-store"],
     r"1000000 rows × \(1000 features \+ 1 target\) = 1,001,000,000 values; the limit is 20,000,000: the "
     r"largest n_samples here is 19980", True),
    ("sweep-n-samples-0", [*_SWEEP, "moons", "--n-samples", "0"], r"n_samples must be 1–", False),
    ("sweep-noise-nan", [*_SWEEP, "moons", "--noise", "nan"], r"noise must be a finite number", False),
    ("sweep-csv-no-path", [*_SWEEP, "csv"], r"dataset 'csv' needs csv_path", False),
    ("sweep-mnist-5-outputs", [*_SWEEP, "mnist", "--layers", "5:identity"], r"MNIST has 10 classes", False),
]


@pytest.fixture(scope="module")
def table_results(tmp_path_factory) -> dict[str, dict]:
    root = tmp_path_factory.mktemp("bad-inputs")
    files = _files(root)
    cases = [[arg.format(**files) for arg in argv] for _, argv, _, _ in TABLE]
    (root / "cases.json").write_text(json.dumps(cases))

    def limits():  # a regression must fail its row, not take the machine with it
        resource.setrlimit(resource.RLIMIT_AS, (CHILD_ADDRESS_SPACE, CHILD_ADDRESS_SPACE))

    proc = subprocess.run([sys.executable, "-c", _DRIVER, str(root / "cases.json"), str(root / "results.json"),
                           str(CASE_SECONDS)], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=CASE_SECONDS * len(TABLE), preexec_fn=limits,
                          env={**os.environ, "OMP_NUM_THREADS": "1", "MALLOC_ARENA_MAX": "2"})
    assert proc.returncode == 0, f"driver exited {proc.returncode}: {proc.stderr[-3000:]}"
    results = json.loads((root / "results.json").read_text())
    return {case_id: r for (case_id, *_), r in zip(TABLE, results, strict=True)}


@pytest.mark.parametrize(("case_id", "pattern", "bounded"), [(c, p, b) for c, _, p, b in TABLE],
                         ids=[c for c, *_ in TABLE])
def test_bad_input_gives_exit_2_and_one_clear_line(table_results, case_id, pattern, bounded):
    r = table_results[case_id]
    assert "Traceback" not in r["err"], r["err"][-2000:]
    assert r["code"] == 2, r
    lines = r["err"].splitlines()
    assert len(lines) == 1, lines[:5]
    assert re.search(pattern, lines[0]), lines[0][:500]
    if bounded:
        assert r["grown_mb"] < BOUNDED_MB, f"peak RSS grew {r['grown_mb']:.0f} MB"


def test_listing_a_missing_store_creates_nothing(tmp_path: Path, capsys):
    target = tmp_path / "a" / "missing" / "dir" / "x.sqlite"
    assert main(["runs", "list", "--store", str(target)]) == 0
    assert "no stored runs" in capsys.readouterr().out
    assert not (tmp_path / "a").exists()


def _locked(path: Path) -> sqlite3.Connection:
    """Another process's long write: an EXCLUSIVE transaction held open on the store."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    conn.execute("UPDATE runs SET name = name")
    return conn


@pytest.mark.parametrize("as_json", [True, False], ids=["json", "text"])
def test_a_locked_store_still_trains_and_says_not_stored(tmp_path: Path, capsys, monkeypatch, as_json):
    path = tmp_path / "runs.sqlite"
    RunStore(path).close()
    monkeypatch.setattr("engine.cli.train.RunStore", lambda p: RunStore(p, busy_timeout=0.2))
    holder = _locked(path)
    try:
        code = main(["train", "--dataset", "moons", "--n-samples", "100", "--layers", "2:identity", "--lr", "0.1",
                     "--epochs", "2", "--store", str(path)] + (["--json"] if as_json else []))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    out, err = capsys.readouterr()
    assert code == 0 and "Traceback" not in err
    if as_json:
        result = json.loads(out)
        assert result["status"] == "finished" and len(result["epochs"]) == 2
        assert result["stored"] is False and result["run_id"] is None
        assert re.search(r"busy", result["not_stored_reason"])
    else:
        assert re.search(r"^run \(not stored: .*busy.*\) on cpu", out, re.M), out
        assert "epoch   2" in out and "finished" in out
    assert RunStore(path).runs().empty


@pytest.fixture
def read_only_dir(tmp_path: Path):
    """A folder mounted read-only (tests run as root, so chmod would not stop a write)."""
    src, ro = tmp_path / "src", tmp_path / "ro"
    src.mkdir()
    ro.mkdir()
    store = RunStore(src / "runs.sqlite")
    run_id = store.create_run({"lr": 0.1}, device="cpu", name="kept")
    store.finish(run_id, "finished", summary={"final_val_loss": 0.5})
    store.close()  # the last connection checkpoints and removes -wal and -shm
    bind = subprocess.run(["mount", "--bind", str(src), str(ro)], capture_output=True)
    if bind.returncode:
        pytest.skip(f"cannot bind-mount here: {bind.stderr.decode().strip()}")
    try:
        if subprocess.run(["mount", "-o", "remount,bind,ro", str(ro)], capture_output=True).returncode:
            pytest.skip("cannot remount read-only here")
        yield ro
    finally:
        gc.collect()  # closes the store's connections, which keep the mount busy
        subprocess.run(["umount", "--lazy", str(ro)], check=True)


def test_a_store_in_a_read_only_folder_can_be_listed(read_only_dir: Path, capsys):
    assert not (read_only_dir / "runs.sqlite-shm").exists()
    code = main(["runs", "list", "--json", "--store", str(read_only_dir / "runs.sqlite")])
    out, err = capsys.readouterr()
    assert code == 0, err
    rows = json.loads(out)
    assert [(r["name"], r["status"], r["summary"]["final_val_loss"]) for r in rows] == [("kept", "finished", 0.5)]
