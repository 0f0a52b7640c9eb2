"""The run store: one SQLite file (WAL mode) holding runs, per-step metrics, per-layer stats, histograms.

Writers (the trainer, possibly in another thread or process) and readers (the pages) share the
file safely: each thread gets its own connection, each write call is one IMMEDIATE transaction,
and WAL lets readers see the last commit while a writer works.

Metrics are stored long-format (one row per key) so any metric name can be logged; the readers
pivot them wide. Values are floats: ±inf round-trips, NaN and None read back as NaN.
Timestamps are unix seconds in the file and tz-aware UTC pandas Timestamps in what readers return.
"""
from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from engine import settings
from engine.store.rows import RUN_COLUMNS, metric_pairs, number, runs_frame
from engine.store.schema import (
    HISTOGRAM_KINDS,
    SCHEMA_VERSION,
    STATUSES_FINAL,
    StoreError,
    check_schema,
    check_store_path,
    connect,
    connect_readonly,
    ensure_schema,
    pid_alive,
    translated_errors,
)

__all__ = ["RunStore", "StoreError"]

MAX_NAME_CHARS = 80  # a run's name is a label (tables, legends); the pages' text inputs use the same cap
_COORDINATES = ["run_id", "step", "epoch", "layer", "wall"]  # column order of the wide readers
# Connections inherited through fork() must never be closed by the child: closing would run
# SQLite's last-connection cleanup using locks the child does not actually hold. Keep them alive.
_FORK_ORPHANS: list[Any] = []


def default_name(config: dict, run_id: str) -> str:
    """'adam lr=0.01 moons' — what tells runs apart in a legend — or 'run-1a184f' when the config lacks them."""
    opt, lr, data = config.get("optimizer"), config.get("lr"), config.get("dataset")
    if opt and isinstance(lr, int | float) and data:
        return f"{opt} lr={lr:g} {data}"
    return f"run-{run_id[:6]}"


class RunStore:
    """Runs and their metrics in one SQLite file; safe across threads and processes."""

    def __init__(self, path: str | Path | None = None, *, busy_timeout: float = 10.0,
                 stale_after: float = 120.0, create: bool = True, readonly: bool = False,
                 owner: str | None = None):
        """Open the store. busy_timeout: seconds a write waits for a lock; stale_after: seconds without a
        heartbeat after which a "running" run counts as interrupted. create: make the file (and its folder)
        when missing, else StoreError. readonly: never write (a listing; works in a read-only folder).
        owner: recorded on every run this store object creates (the app's browser session or user)."""
        self.path = Path(path) if path is not None else settings.default_store_path()
        self.busy_timeout = busy_timeout
        self.stale_after = stale_after
        self.readonly = readonly
        self.owner = owner
        self._local = threading.local()
        check_store_path(self.path, create=create and not readonly)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with translated_errors(self.path):
            if readonly:
                self._version = check_schema(self._conn(), self.path)
            else:
                ensure_schema(self._conn(), self.path)
                self._version = SCHEMA_VERSION

    # Pickle only the settings, so a store can be handed to a spawned worker process; each
    # process opens its own connections.
    def __getstate__(self) -> dict:
        return {"path": self.path, "busy_timeout": self.busy_timeout, "stale_after": self.stale_after,
                "readonly": self.readonly, "owner": self.owner, "_version": self._version}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._local = threading.local()

    def _run_columns(self) -> str:
        """The runs columns to SELECT; a v1 store (read-only, not migrated) has no owner: NULL, nobody's."""
        return ", ".join("NULL AS owner" if c == "owner" and self._version < 2 else c for c in RUN_COLUMNS)

    # ---- connections and transactions -------------------------------------------------------

    def _conn(self):
        """This thread's connection (a new one after fork: sqlite connections must not cross it)."""
        conn, pid = getattr(self._local, "conn", None), getattr(self._local, "pid", None)
        if conn is not None and pid != os.getpid():
            _FORK_ORPHANS.append(conn)
            conn = None
        if conn is None:
            with translated_errors(self.path):
                conn = (connect_readonly if self.readonly else connect)(self.path, self.busy_timeout)
            self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    def close(self) -> None:
        """Close the calling thread's connection (others close when their threads end)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            conn.close()
        self._local.conn = None

    @contextmanager
    def _write(self) -> Iterator[Any]:
        """One IMMEDIATE transaction: takes the write lock up front, so a busy database waits
        busy_timeout and then fails cleanly instead of deadlocking on a read-to-write upgrade."""
        conn = self._conn()
        with translated_errors(self.path):
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:  # SQLite may already have rolled back (e.g. disk full)
                    conn.execute("ROLLBACK")
                raise

    def _query(self, sql: str, params: Iterable[Any] = ()) -> list[tuple]:
        with translated_errors(self.path):
            return self._conn().execute(sql, tuple(params)).fetchall()

    # ---- writers ------------------------------------------------------------------------------

    def set_origin(self, run_id: str, *, created: float, duration: float, host: str, pid: int) -> None:
        """Where and when a run really ran, for runs recorded elsewhere and replayed here (Ray sweeps):
        start time (unix s), training duration (s), host and pid of the worker."""
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE runs SET created = ?, finished = CASE WHEN finished IS NULL THEN NULL ELSE ? END,"
                " heartbeat = ?, duration = ?, host = ?, pid = ? WHERE run_id = ?",
                (created, created + duration, created + duration, duration, host, pid, run_id))
            if cur.rowcount == 0:
                raise StoreError(f"no run {run_id!r} in {self.path}")

    def create_run(self, config: dict, *, device: str, name: str | None = None,
                   sweep_id: str | None = None) -> str:
        """Record a new "running" run with its config, this process's pid and host; return its id."""
        run_id = uuid.uuid4().hex[:12]
        now = time.time()
        # default=str: values like torch.dtype or Path are recorded as their text, not rejected
        config_json = json.dumps(config, default=str)
        with self._write() as conn:
            conn.execute(
                "INSERT INTO runs (run_id, name, created, heartbeat, duration, status, device, host,"
                " pid, sweep_id, config, owner) VALUES (?, ?, ?, ?, 0, 'running', ?, ?, ?, ?, ?, ?)",
                (run_id, name or default_name(config, run_id), now, now, str(device), socket.gethostname(),
                 os.getpid(), sweep_id, config_json, self.owner),
            )
        return run_id

    def log_steps(self, run_id: str, rows: list[dict]) -> None:
        """Store per-step rows {"step", "epoch", "wall", metric: value, ...} in one transaction."""
        records = [(run_id, int(r["step"]), int(r["epoch"]), number("wall", r.get("wall")), key, value)
                   for r in rows for key, value in metric_pairs(r, ("step", "epoch", "wall"))]
        with self._write() as conn:
            conn.executemany("INSERT INTO steps VALUES (?, ?, ?, ?, ?, ?)", records)
            _touch(conn, run_id)

    def log_epoch(self, run_id: str, row: dict, *, summary: dict | None = None) -> None:
        """Store one epoch row {"epoch", "train_loss", "val_loss", ...}; refreshes the heartbeat. summary: the
        run's summary so far, written in the same transaction, so a run killed later still has one."""
        epoch = int(row["epoch"])
        records = [(run_id, epoch, key, value) for key, value in metric_pairs(row, ("epoch",))]
        with self._write() as conn:
            conn.executemany("INSERT INTO epochs VALUES (?, ?, ?, ?)", records)
            _touch(conn, run_id)
            if summary is not None:
                conn.execute("UPDATE runs SET summary = ? WHERE run_id = ?",
                             (json.dumps(summary, default=str), run_id))

    def log_layer_stats(self, run_id: str, rows: list[dict]) -> None:
        """Store per-layer rows {"step", "epoch", "layer", "grad_norm", ...} in one transaction."""
        records = [(run_id, int(r["step"]), int(r["epoch"]), int(r["layer"]), key, value)
                   for r in rows for key, value in metric_pairs(r, ("step", "epoch", "layer"))]
        with self._write() as conn:
            conn.executemany("INSERT INTO layer_stats VALUES (?, ?, ?, ?, ?, ?)", records)
            _touch(conn, run_id)

    def log_histograms(self, run_id: str, epoch: int, layer: int, kind: str,
                       counts: list[int], edges: list[float]) -> None:
        """Store one histogram (replacing any for the same epoch, layer and kind)."""
        if kind not in HISTOGRAM_KINDS:
            raise ValueError(f"histogram kind {kind!r} is not one of {HISTOGRAM_KINDS}")
        counts, edges = [int(c) for c in counts], [float(e) for e in edges]
        if len(edges) != len(counts) + 1:
            raise ValueError(f"a histogram needs len(edges) == len(counts) + 1; got {len(edges)} edges"
                             f" for {len(counts)} counts")
        with self._write() as conn:
            conn.execute("INSERT OR REPLACE INTO histograms VALUES (?, ?, ?, ?, ?, ?)",
                         (run_id, int(epoch), int(layer), kind, json.dumps(counts), json.dumps(edges)))
            _touch(conn, run_id)

    def finish(self, run_id: str, status: str, *, summary: dict | None = None,
               message: str | None = None) -> None:
        """Close a run: final status, summary metrics (JSON; None keeps the one log_epoch last wrote),
        message, duration since creation."""
        if status not in STATUSES_FINAL:
            raise ValueError(f"finish status {status!r} is not one of {STATUSES_FINAL}")
        now = time.time()
        summary_json = None if summary is None else json.dumps(summary, default=str)
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE runs SET status = ?, summary = COALESCE(?, summary, '{}'), message = ?, finished = ?,"
                " heartbeat = ?, duration = ? - created WHERE run_id = ?",
                (status, summary_json, message, now, now, now, run_id))
            _require_run(cur, run_id, self.path)

    def heartbeat(self, run_id: str) -> None:
        """Mark the run as alive now (log_* calls do this too)."""
        with self._write() as conn:
            _require_run(_touch(conn, run_id), run_id, self.path)

    def rename(self, run_id: str, name: str, *, by: str | None = None) -> None:
        """Rename a run. by: the owner asking (the app's visitor); None: anyone's run (CLI, operator).
        A name is a label shown in tables and legends: at most MAX_NAME_CHARS (the pages' cap), else StoreError."""
        if len(name) > MAX_NAME_CHARS:
            raise StoreError(f"the new name has {len(name)} characters; a run name may have at most {MAX_NAME_CHARS}")
        with self._write() as conn:
            _require_owned(conn, [run_id], by, "rename")
            _require_run(conn.execute("UPDATE runs SET name = ? WHERE run_id = ?", (name, run_id)),
                         run_id, self.path)

    def delete(self, run_ids: list[str], *, by: str | None = None) -> int:
        """Delete runs and every row they own (cascade); return how many runs were deleted.
        by: the owner asking — if any of the runs is someone else's, nothing is deleted (StoreError)."""
        ids = _ids(run_ids)
        with self._write() as conn:
            _require_owned(conn, ids, by, "delete")
            return conn.execute(f"DELETE FROM runs WHERE run_id IN ({_marks(ids)})", ids).rowcount

    def reap_interrupted(self, stale_after: float | None = None) -> int:
        """Mark "running" runs whose process is gone (same host, pid dead) or whose heartbeat is
        older than stale_after seconds as "interrupted", keeping their metrics; return how many."""
        dead = self._dead_runs(stale_after)
        if not dead or self.readonly:
            return 0  # the common case: readers take no write lock
        with self._write() as conn:
            # status re-checked under the lock: the run may have finished since we looked
            return conn.execute(
                f"UPDATE runs SET status = 'interrupted', duration = heartbeat - created,"
                f" message = COALESCE(message, 'process ended without finishing the run')"
                f" WHERE status = 'running' AND run_id IN ({_marks(dead)})", dead).rowcount

    def _dead_runs(self, stale_after: float | None = None) -> list[str]:
        """Ids of "running" runs whose process is gone (same host) or whose heartbeat is stale."""
        stale = self.stale_after if stale_after is None else stale_after
        host, now = socket.gethostname(), time.time()
        rows = self._query("SELECT run_id, host, pid, heartbeat FROM runs WHERE status = 'running'")
        return [r[0] for r in rows if (r[1] == host and not pid_alive(r[2])) or now - r[3] > stale]

    # ---- readers ------------------------------------------------------------------------------

    def runs(self, *, sweep_id: str | None = None) -> pd.DataFrame:
        """One row per run, oldest first; reaps interrupted runs first.

        Columns: run_id, name, created, finished, heartbeat (UTC datetimes), duration (s), status,
        device, host, pid, sweep_id, message, config (dict), summary (dict), then one column per
        top-level config key named "config.<key>" and per summary key named "summary.<key>"
        (one level: nested values stay dicts/lists; keys a run lacks are NaN)."""
        dead = self._dead_runs() if self.readonly else []
        if not self.readonly:
            self.reap_interrupted()
        where, params = ("WHERE sweep_id = ?", [sweep_id]) if sweep_id is not None else ("", [])
        rows = self._query(f"SELECT {self._run_columns()} FROM runs {where}"
                           " ORDER BY created, rowid", params)
        df = runs_frame(rows)
        if dead:  # read-only: show what reaping would write, without writing it
            df.loc[df["run_id"].isin(dead), "status"] = "interrupted"
        flat = [pd.DataFrame(list(df[col]), index=df.index).add_prefix(f"{col}.")
                for col in ("config", "summary") if len(df)]
        return pd.concat([df, *flat], axis=1) if flat else df

    def run(self, run_id: str) -> dict:
        """One run as a dict (the runs() base columns); StoreError if it does not exist."""
        rows = self._query(f"SELECT {self._run_columns()} FROM runs WHERE run_id = ?", [run_id])
        if not rows:
            raise StoreError(f"no run {run_id!r} in {self.path}; it may have been deleted")
        return runs_frame(rows).to_dict("records")[0]

    def steps(self, run_ids: list[str]) -> pd.DataFrame:
        """Wide per-step metrics: run_id, step, epoch, wall, then one column per metric key."""
        return self._wide("steps", run_ids, keys=["step"], carried=["epoch", "wall"])

    def epochs(self, run_ids: list[str]) -> pd.DataFrame:
        """Wide per-epoch metrics: run_id, epoch, then one column per metric key."""
        return self._wide("epochs", run_ids, keys=["epoch"], carried=[])

    def layer_stats(self, run_ids: list[str]) -> pd.DataFrame:
        """Wide per-layer stats: run_id, step, epoch, layer, then one column per stat key."""
        return self._wide("layer_stats", run_ids, keys=["step", "layer"], carried=["epoch"])

    def histograms(self, run_id: str, *, kind: str | None = None) -> pd.DataFrame:
        """run_id, epoch, layer, kind, counts (list of int), edges (list of float); by epoch, layer."""
        where, params = "WHERE run_id = ?", [run_id]
        if kind is not None:
            where, params = where + " AND kind = ?", params + [kind]
        rows = self._query("SELECT run_id, epoch, layer, kind, counts, edges FROM histograms "
                           f"{where} ORDER BY epoch, layer, kind", params)
        df = pd.DataFrame(rows, columns=["run_id", "epoch", "layer", "kind", "counts", "edges"])
        df["counts"] = [json.loads(c) for c in df["counts"]]
        df["edges"] = [json.loads(e) for e in df["edges"]]
        return df.astype({"epoch": "int64", "layer": "int64"})

    def sweeps(self) -> pd.DataFrame:
        """One row per sweep, oldest first: sweep_id, n_runs, created (first run), statuses
        ({status: count})."""
        rows = self._query("SELECT sweep_id, status, COUNT(*), MIN(created) FROM runs"
                           " WHERE sweep_id IS NOT NULL GROUP BY sweep_id, status")
        sweeps: dict[str, dict] = {}
        for sweep_id, status, n, created in rows:
            s = sweeps.setdefault(sweep_id, {"sweep_id": sweep_id, "n_runs": 0, "created": created,
                                             "statuses": {}})
            s["n_runs"] += n
            s["created"] = min(s["created"], created)
            s["statuses"][status] = n
        df = pd.DataFrame(list(sweeps.values()), columns=["sweep_id", "n_runs", "created", "statuses"])
        df["created"] = pd.to_datetime(df["created"].astype("float64"), unit="s", utc=True)
        return df.sort_values("created", kind="stable").reset_index(drop=True).astype({"n_runs": "int64"})

    def _wide(self, table: str, run_ids: list[str], *, keys: list[str], carried: list[str]) -> pd.DataFrame:
        """Pivot a long (run_id, *keys, *carried, key, value) table to one row per (run_id, *keys).

        A key logged twice for the same row keeps the last value. Rows follow the order of
        run_ids, then keys; metric columns follow the order in which they were first logged."""
        ids = _ids(run_ids)
        base, index = ["run_id", *keys, *carried], ["run_id", *keys]
        rows = self._query(f"SELECT {', '.join(base)}, key, value FROM {table}"
                           f" WHERE run_id IN ({_marks(ids)}) ORDER BY rowid", ids)
        long = pd.DataFrame(rows, columns=[*base, "key", "value"]).astype({"value": "float64"})
        metric_keys = list(dict.fromkeys(long["key"]))
        long = long.drop_duplicates([*index, "key"], keep="last")
        meta = long.drop_duplicates(index, keep="last").set_index(index)[carried]
        wide = long.pivot(index=index, columns="key", values="value").reindex(columns=metric_keys)
        out = meta.join(wide).reset_index()
        order = {run_id: i for i, run_id in enumerate(ids)}
        out = out.assign(_order=out["run_id"].map(order)).sort_values(["_order", *keys])
        out = out[[c for c in _COORDINATES if c in base] + metric_keys].reset_index(drop=True)
        out.columns.name = None
        return out.astype({**_wide_dtypes(base), **{k: "float64" for k in metric_keys}})


def _wide_dtypes(base: list[str]) -> dict[str, str]:
    return {c: "float64" if c == "wall" else "int64" for c in base if c != "run_id"}


def _touch(conn, run_id: str):
    """Refresh the heartbeat (and running duration) inside the caller's transaction."""
    now = time.time()
    return conn.execute("UPDATE runs SET heartbeat = ?, duration = ? - created WHERE run_id = ?",
                 (now, now, run_id))


def _require_run(cursor, run_id: str, path: Path) -> None:
    if cursor.rowcount == 0:
        raise StoreError(f"no run {run_id!r} in {path}; it may have been deleted")


def _require_owned(conn, ids: list[str], by: str | None, verb: str) -> None:
    """Inside the caller's transaction: StoreError unless every existing run of ids belongs to `by`
    (by=None asks for no check). Unowned runs (NULL: CLI runs, runs from before owners) are nobody's."""
    if by is None or not ids:
        return
    others = conn.execute(f"SELECT COUNT(*) FROM runs WHERE run_id IN ({_marks(ids)})"
                          " AND (owner IS NULL OR owner != ?)", [*ids, by]).fetchone()[0]
    if others:
        raise StoreError(f"{others} of these runs belong to another session (or to nobody); you can {verb} "
                         "only the runs you started here — the operator can allow more (BACKPROP_LAB_ADMIN=1)")


def _ids(run_ids: list[str] | str) -> list[str]:
    # a bare string would otherwise be iterated character by character
    return [run_ids] if isinstance(run_ids, str) else list(run_ids)


def _marks(items: list) -> str:
    return ", ".join("?" * len(items))
