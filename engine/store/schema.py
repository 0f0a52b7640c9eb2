"""The run store's SQLite layer: schema, migrations, connections, and error translation.

`engine.store.runs.RunStore` is the public face; this module holds what it needs from `sqlite3`.
Timestamps are unix floats (seconds, UTC) in the database; readers turn them into pandas
datetimes. Metric values live in REAL columns: ±inf round-trips, NaN is stored as NULL by
SQLite and reads back as NaN.
"""
from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

SCHEMA_VERSION = 4  # PRAGMA user_version; bump and add a step to MIGRATIONS to change the schema
READABLE_SINCE = 1  # the oldest schema a read-only store is listed from without migrating
STATUSES_FINAL = ("finished", "diverged", "stopped", "failed")
HISTOGRAM_KINDS = ("weight", "grad")


class StoreError(RuntimeError):
    """A run-store problem a user can act on: the message says what went wrong and what to do."""


# Children reference runs with ON DELETE CASCADE, so deleting a run removes every row it owns,
# and logging to a run that does not exist fails loudly instead of leaving orphans.
_SCHEMA_V1 = """
CREATE TABLE runs (
    run_id    TEXT PRIMARY KEY,
    name      TEXT NOT NULL,
    created   REAL NOT NULL,
    finished  REAL,
    heartbeat REAL NOT NULL,
    duration  REAL,
    status    TEXT NOT NULL,
    device    TEXT NOT NULL,
    host      TEXT NOT NULL,
    pid       INTEGER NOT NULL,
    sweep_id  TEXT,
    message   TEXT,
    config    TEXT NOT NULL,
    summary   TEXT
);
CREATE INDEX runs_sweep ON runs (sweep_id);
CREATE INDEX runs_status ON runs (status);
CREATE TABLE steps (
    run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    step   INTEGER NOT NULL,
    epoch  INTEGER NOT NULL,
    wall   REAL,
    key    TEXT NOT NULL,
    value  REAL
);
CREATE INDEX steps_run ON steps (run_id, step);
CREATE TABLE epochs (
    run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    epoch  INTEGER NOT NULL,
    key    TEXT NOT NULL,
    value  REAL
);
CREATE INDEX epochs_run ON epochs (run_id, epoch);
CREATE TABLE layer_stats (
    run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    step   INTEGER NOT NULL,
    epoch  INTEGER NOT NULL,
    layer  INTEGER NOT NULL,
    key    TEXT NOT NULL,
    value  REAL
);
CREATE INDEX layer_stats_run ON layer_stats (run_id, step, layer);
CREATE TABLE histograms (
    run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    epoch  INTEGER NOT NULL,
    layer  INTEGER NOT NULL,
    kind   TEXT NOT NULL,
    counts TEXT NOT NULL,   -- JSON list of ints
    edges  TEXT NOT NULL,   -- JSON list of floats, len(counts) + 1
    PRIMARY KEY (run_id, epoch, layer, kind)
);
"""

# v2: who may rename or delete a run. owner is the creating browser session's token ("session:…"), a
# signed-in user ("user:…"), or NULL: runs from the CLI, sweeps run outside the app, and every run of a
# v1 store, which belong to nobody — only the operator (BACKPROP_LAB_ADMIN=1, or the CLI) changes them.
_SCHEMA_V2 = "ALTER TABLE runs ADD COLUMN owner TEXT"

# v3: replay and branches. A checkpoint is one torch.save blob (weights, optimizer state, batch-order
# generator state) at a step; lineage holds a run's parent and branch step and its data's fingerprint.
_SCHEMA_V3 = """
CREATE TABLE checkpoints (
    run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    step   INTEGER NOT NULL,
    epoch  INTEGER NOT NULL,   -- the epoch in progress at this step (the next one at an epoch's end)
    offset_rows INTEGER NOT NULL,  -- rows of that epoch's batch permutation already consumed
    bytes  INTEGER NOT NULL,
    blob   BLOB NOT NULL,
    PRIMARY KEY (run_id, step)
);
CREATE TABLE lineage (
    run_id      TEXT PRIMARY KEY REFERENCES runs (run_id) ON DELETE CASCADE,
    parent_id   TEXT,          -- no foreign key: a branch outlives its deleted parent
    branch_step INTEGER,
    data_fingerprint TEXT NOT NULL  -- JSON: what the data was, to refuse replay on changed data
);
CREATE INDEX lineage_parent ON lineage (parent_id);
"""

# v4: every step's gradient health, filled in after a run by an exact replay (engine/train/health_fill.py):
# one row a run, the statistics as packed arrays (a 5-epoch MNIST run: 4 690 steps × 3 layers × 10 columns of
# float32 = 0.56 MB; as layer_stats rows it would be ~140 000 rows, ~10 MB, and slow to pivot).
_SCHEMA_V4 = """
CREATE TABLE health_fill (
    run_id  TEXT PRIMARY KEY REFERENCES runs (run_id) ON DELETE CASCADE,
    first_step INTEGER NOT NULL,  -- the replay covers the steps after this one (0, or a branch's branch step)
    every   INTEGER NOT NULL,     -- statistics at steps first + 1, first + 1 + every, …, and the last step
    layers  INTEGER NOT NULL,
    columns TEXT NOT NULL,        -- JSON list of the statistics' names, in the order of the last axis
    steps   BLOB NOT NULL,        -- int32 (S,): the step numbers
    epochs  BLOB NOT NULL,        -- int32 (S,): the epoch each step belongs to
    stats   BLOB NOT NULL         -- float32 (S, layers, len(columns)), little-endian
)
"""

# MIGRATIONS[v] turns a version-(v-1) database into version v.
MIGRATIONS = {1: _SCHEMA_V1, 2: _SCHEMA_V2, 3: _SCHEMA_V3, 4: _SCHEMA_V4}


@contextmanager
def translated_errors(path: Path) -> Iterator[None]:
    """Turn sqlite3 exceptions into StoreError messages that name the file and the fix."""
    try:
        yield
    except sqlite3.IntegrityError as e:
        # The only constraint a caller can break is the foreign key: a run id that is not stored.
        raise StoreError(f"no run with that id in {path} (deleted, or never created): {e}") from e
    except sqlite3.OperationalError as e:
        text = str(e).lower()
        if "locked" in text or "busy" in text:
            raise StoreError(
                f"run store {path} is busy: another process holds the database; retry ({e})"
            ) from e
        if "unable to open" in text:
            raise StoreError(f"cannot open run store {path}: check the folder exists and is writable") from e
        raise StoreError(f"run store {path}: {e}") from e
    except sqlite3.DatabaseError as e:  # "file is not a database", "database disk image is malformed"
        raise StoreError(
            f"run store {path} is corrupt or not a SQLite database ({e}); "
            "move it away; a new store will be created"
        ) from e


def check_store_path(path: Path, *, create: bool) -> None:
    """The store must be a regular file (sqlite on /dev/null or a folder fails with obscure errors);
    a missing one is created only when `create` (a listing never creates anything)."""
    if path.is_dir():
        raise StoreError(f"run store {path} is a directory; give a .sqlite file path")
    if path.exists() and not path.is_file():
        raise StoreError(f"run store {path} is not a regular file; give a .sqlite file path")
    if not create and not path.exists():
        raise StoreError(f"no run store at {path}; train a run first or check --store / BACKPROP_LAB_STORE")


def connect_readonly(path: Path, busy_timeout: float) -> sqlite3.Connection:
    """A read-only connection. WAL readers need the -shm file; in a read-only folder where it is missing,
    open the file as immutable (nobody can write there, so nothing can change under us)."""
    uri = f"file:{quote(str(path.resolve()))}"
    conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=busy_timeout, isolation_level=None)
    try:
        conn.execute("PRAGMA user_version").fetchone()
    except sqlite3.OperationalError as e:
        if "unable to open" not in str(e).lower():
            raise
        conn.close()
        conn = sqlite3.connect(f"{uri}?immutable=1", uri=True, isolation_level=None)
    return conn


def connect(path: Path, busy_timeout: float) -> sqlite3.Connection:
    """A connection in autocommit mode (we issue BEGIN ourselves) with per-connection pragmas."""
    conn = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")  # per connection: needed for ON DELETE CASCADE
    conn.execute("PRAGMA synchronous = NORMAL")  # durable across app crashes in WAL mode; faster commits
    return conn


def ensure_schema(conn: sqlite3.Connection, path: Path) -> None:
    """Switch the file to WAL and bring its schema to SCHEMA_VERSION (no write lock if already there)."""
    conn.execute("PRAGMA journal_mode = WAL")  # persistent: stored in the file, readers never block writers
    if _user_version(conn) == SCHEMA_VERSION:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = _user_version(conn)  # re-read under the lock: another process may have migrated
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"run store {path} has schema v{version}, newer than this Backprop Lab "
                f"(v{SCHEMA_VERSION}); upgrade Backprop Lab or set BACKPROP_LAB_STORE to another file"
            )
        for target in range(version + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[target].split(";"):
                if statement.strip():
                    conn.execute(statement)  # executescript() would COMMIT our transaction early
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def check_schema(conn: sqlite3.Connection, path: Path) -> int:
    """For a read-only store, which cannot migrate: its schema version, which must be one this code reads
    (v1 stores lack only runs.owner, which readers then take as NULL)."""
    version = _user_version(conn)
    if not READABLE_SINCE <= version <= SCHEMA_VERSION:
        how = "upgrade Backprop Lab" if version > SCHEMA_VERSION else "open it once with write access"
        raise StoreError(f"run store {path} has schema v{version}, this Backprop Lab reads v{SCHEMA_VERSION}; {how}")
    return version


def _user_version(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid runs on this host (a zombie counts as gone)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    try:  # Linux: an exited child not yet waited for is a zombie ("Z"), i.e. not running
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True
