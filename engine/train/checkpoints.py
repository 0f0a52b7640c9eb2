"""Checkpoints of a run (weights, optimizer state, batch order) and the fingerprint of its data.

Policy: a checkpoint at the run's first step (step 0, or a branch's start) and after every k-th epoch,
with k the smallest stride that keeps a run's checkpoints within MAX_RUN_BYTES (50 MB). A model
whose single checkpoint is over that stores none: replay then recomputes from the seed (the
initial state is a pure function of the config). Replay needs no checkpoint to be exact, only
to be quick: it recomputes from the nearest one at or before the step it is asked for.

Blobs are torch.save bytes of plain tensors and numbers, read back with weights_only=True (never
arbitrary pickles from the store).
"""
from __future__ import annotations

import hashlib
import io
import json
import math
from pathlib import Path

import torch

from engine.store.schema import StoreError

MAX_RUN_BYTES = 50 * 1024 * 1024


class ReplayError(ValueError):
    """A run cannot be replayed or branched as asked; the message says why and what to do."""


def stride_epochs(checkpoint_bytes: int, epochs: int) -> int | None:
    """Epochs between checkpoints so that 1 + ⌊epochs/k⌋ checkpoints fit MAX_RUN_BYTES; None: store none."""
    fit = MAX_RUN_BYTES // max(checkpoint_bytes, 1)  # how many checkpoints the budget holds
    if fit < 1:
        return None
    if fit == 1:
        return epochs + 1  # only the first one
    return max(1, math.ceil(epochs / (fit - 1)))


def _cpu(obj):
    """A copy of obj with every tensor on the CPU (a CUDA checkpoint must load on a CPU-only machine)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {k: _cpu(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_cpu(v) for v in obj)
    return obj


def to_bytes(state: dict) -> bytes:
    """state {step, epoch, offset, order, model, optimizer} → torch.save bytes (tensors on the CPU)."""
    buf = io.BytesIO()
    torch.save(_cpu(state), buf)
    return buf.getvalue()


def from_bytes(blob: bytes) -> dict:
    try:
        return torch.load(io.BytesIO(blob), weights_only=True, map_location="cpu")
    except Exception as err:  # a damaged blob or one that is not plain tensors: refuse, do not guess
        raise ReplayError(f"a stored checkpoint cannot be read ({err}); replay from a fresh run") from err


# ---- the store's checkpoints and lineage tables (schema v3) ----------------------------------------

def query_rows(store, sql: str, params=()) -> list[tuple]:
    """store._query, with a read-only store of an older schema (no such tables) reading as empty."""
    try:
        return store._query(sql, params)
    except StoreError as err:
        if "no such table" in str(err):
            return []
        raise


def save_checkpoint(store, run_id: str, data: dict) -> None:
    """data: a checkpoint event {step, epoch, offset, blob}."""
    with store._write() as conn:
        conn.execute("INSERT OR REPLACE INTO checkpoints VALUES (?, ?, ?, ?, ?, ?)",
                     (run_id, int(data["step"]), int(data["epoch"]), int(data["offset"]), len(data["blob"]),
                      data["blob"]))


def checkpoint_steps(store, run_id: str) -> list[tuple[int, int]]:
    """[(step, bytes)] of a run's checkpoints, by step."""
    return [(s, b) for s, b in query_rows(store, "SELECT step, bytes FROM checkpoints WHERE run_id = ? ORDER BY step",
                                            [run_id])]


def nearest_checkpoint(store, run_id: str, step: int) -> dict | None:
    """The run's last checkpoint at or before step, loaded; None if it has none."""
    rows = query_rows(store, "SELECT blob FROM checkpoints WHERE run_id = ? AND step <= ? ORDER BY step DESC LIMIT 1",
                        [run_id, int(step)])
    return from_bytes(rows[0][0]) if rows else None


def save_lineage(store, run_id: str, fingerprint: dict, parent_id: str | None = None,
                 branch_step: int | None = None) -> None:
    with store._write() as conn:
        conn.execute("INSERT OR REPLACE INTO lineage VALUES (?, ?, ?, ?)",
                     (run_id, parent_id, branch_step, json.dumps(fingerprint, sort_keys=True)))


def lineage(store, run_id: str) -> dict:
    """{parent_id, branch_step, data_fingerprint}; all None for a run stored before checkpoints existed."""
    rows = query_rows(store, "SELECT parent_id, branch_step, data_fingerprint FROM lineage WHERE run_id = ?", [run_id])
    if not rows:
        return {"parent_id": None, "branch_step": None, "data_fingerprint": None}
    parent, step, fp = rows[0]
    return {"parent_id": parent, "branch_step": step, "data_fingerprint": json.loads(fp)}


def families(store) -> dict[str, tuple[str | None, int | None]]:
    """run_id → (parent_id, branch_step) for every run that has a lineage row."""
    return {r: (p, s) for r, p, s in query_rows(store, "SELECT run_id, parent_id, branch_step FROM lineage")}


def with_lineage(store, runs):
    """RunStore.runs() plus parent_id and branch_step columns (None for runs that are not branches)."""
    fam = families(store)
    return runs.assign(parent_id=[fam.get(r, (None, None))[0] for r in runs["run_id"]],
                       branch_step=[fam.get(r, (None, None))[1] for r in runs["run_id"]])


# ---- what the data was ------------------------------------------------------------------------------

_SYNTHETIC_KEYS = ("dataset", "n_samples", "noise", "n_classes", "true_w", "true_b", "seed", "val_fraction")


def data_fingerprint(cfg) -> dict:
    """What identifies a run's data. CSV: the file's size and sha256 (plus the split settings); synthetic:
    the generating config; MNIST: its source (the IDX folder, or the MD5-checked standard copy)."""
    if cfg.dataset == "csv":
        path = Path(cfg.csv_path)
        if not path.is_file():
            return {"dataset": "csv", "path": str(path), "missing": True}
        digest = hashlib.sha256()
        with path.open("rb") as f:  # the CSV loader caps the size (≤ 100 MB), so this read is bounded too
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        return {"dataset": "csv", "path": str(path), "bytes": path.stat().st_size, "sha256": digest.hexdigest(),
                "target": cfg.target, "standardize": cfg.standardize, "seed": cfg.seed,
                "val_fraction": cfg.val_fraction}
    if cfg.dataset == "mnist":
        return {"dataset": "mnist", "source": cfg.mnist_dir or "standard MNIST (MD5-checked)",
                "val_fraction": cfg.val_fraction, "seed": cfg.seed}
    d = cfg.to_dict()
    return {k: d[k] for k in _SYNTHETIC_KEYS}


def check_same_data(stored: dict | None, cfg, run_id: str) -> None:
    """Refuse to replay on data other than the run's: ReplayError naming what changed."""
    if stored is None:
        return  # a run from before fingerprints: nothing to compare against
    now = data_fingerprint(cfg)
    if now == stored:
        return
    if now.get("missing"):
        raise ReplayError(f"the data changed: run {run_id} trained on {now['path']}, which is gone; "
                          "put the file back to replay it")
    changed = sorted(k for k in set(now) | set(stored) if now.get(k) != stored.get(k))
    raise ReplayError(f"the data changed since run {run_id} ({', '.join(changed)} differ); "
                      "replaying it on other data would show a different run")
