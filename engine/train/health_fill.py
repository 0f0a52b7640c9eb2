"""Every step's gradient health, filled in after a run by an exact replay of it.

Why after, not during: a stats step (two norms of every W and ∂L/∂W, the update's norm, the activations'
dead/saturated fractions, means, spreads and maxima) is 60–80 % of an MNIST training step on this CPU
(tools/stats_cost.py) — memory passes over the weights, not overhead a fused kernel could remove. Recording it
at every step would make the trainer ~1.6× slower, far past bench row 1's target. So the hot loop records
under a cost budget (engine/train/health.py StatsCadence: every k-th step), and this module replays the run —
deterministic, so bitwise the same steps — with statistics at every step (every ⌈steps/5 000⌉-th above
5 000 steps) and stores them packed (schema v4 table health_fill). The replay's losses are checked against the
stored ones at every logged step: a replay that does not reproduce the run stores nothing and says where.

Readers call health_stats(): the filled statistics of a run when it has them, the recorded ones otherwise.
"""
from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from engine.train import checkpoints
from engine.train.checkpoints import ReplayError, query_rows
from engine.train.config import TrainConfig
from engine.train.health import MAX_STATS_STEPS, STAT_COLUMNS
from engine.train.loop import load_data, train
from engine.train.recorder import END_KINDS
from engine.train.replay import last_step


@dataclass
class Fill:
    """What a fill stored: statistics at `steps` steps (every `every`-th after first_step), in `seconds`."""
    run_id: str
    first_step: int
    every: int
    steps: int
    seconds: float


def fill_every(first: int, end: int) -> int:
    """Every step up to MAX_STATS_STEPS steps, else evenly sampled to about that many."""
    return max(1, math.ceil((end - first) / MAX_STATS_STEPS))


def fill_info(store, run_id: str) -> dict | None:
    """{first_step, every, steps} of the run's fill; None when it has none (or the store predates fills)."""
    rows = query_rows(store, "SELECT first_step, every, length(steps) / 4 FROM health_fill WHERE run_id = ?", [run_id])
    return None if not rows else dict(zip(("first_step", "every", "steps"), rows[0], strict=True))


def needs_fill(store, run_id: str) -> bool:
    """A run that ended (finished, stopped, diverged), has no fill yet, and recorded fewer stats steps than a
    fill would (a run recorded at every step already needs none)."""
    info = store.run(run_id)
    if info["status"] not in END_KINDS or fill_info(store, run_id) is not None:
        return False
    end, first = last_step(info), checkpoints.lineage(store, run_id)["branch_step"] or 0
    recorded = query_rows(store, "SELECT COUNT(DISTINCT step) FROM layer_stats WHERE run_id = ? AND step > ?",
                          [run_id, first])[0][0]
    return recorded < _fill_steps(first, end, fill_every(first, end))


def _fill_steps(first: int, end: int, every: int) -> int:
    """How many steps a fill records: the loop records step s + 1 for every s in [first, end) with
    s % every == 0 (health.StatsCadence), and the last step `end` always."""
    if end <= first:
        return 0
    multiples = (end - 1) // every - (first + every - 1) // every + 1
    return multiples + (1 if (end - 1) % every else 0)


def fill_health(store, run_id: str, *, stop=None, progress: Callable[[int, int], None] | None = None,
                data=None) -> Fill:
    """Replay the run with statistics at every step (every fill_every-th) and store them; ReplayError when it
    cannot be replayed (no final step, changed data, a branch without checkpoints), when the replay's losses
    differ from the stored ones, or when `stop` is set (nothing is stored then)."""
    t0 = time.perf_counter()
    info = store.run(run_id)
    end = last_step(info)
    lin = checkpoints.lineage(store, run_id)
    cfg = TrainConfig.from_dict(info["config"])
    checkpoints.check_same_data(lin["data_fingerprint"], cfg, run_id)
    first = lin["branch_step"] or 0
    resume = None
    if lin["parent_id"] is not None:  # a branch's own steps start from its state at the branch step
        resume = checkpoints.nearest_checkpoint(store, run_id, first)
        if resume is None or int(resume["step"]) != first:
            raise ReplayError(f"branch {run_id} stored no checkpoint at its branch step {first}; "
                              "its health cannot be filled in")
    every = fill_every(first, end)
    stored = _stored_losses(store, run_id)
    rows: list[dict] = []
    events = train(replace(cfg, max_steps=end, stats_every=every), stop=stop,
                   data=data if data is not None else load_data(cfg), resume=resume)
    for ev in events:
        if ev.kind == "step":
            _check_loss(run_id, ev.data, stored)
            if progress is not None:
                progress(ev.data["step"] - first, end - first)
        elif ev.kind == "layers":
            rows.extend(ev.data["rows"])
        elif ev.kind in END_KINDS and ev.data["step"] != end:
            why = ev.data.get("message", "")
            raise ReplayError(f"the replay of run {run_id} ended at step {ev.data['step']}, not {end} ({why}); "
                              "its health was not filled in")
    save_fill(store, run_id, first, every, rows)
    return Fill(run_id, first, every, len({r["step"] for r in rows}), time.perf_counter() - t0)


def _stored_losses(store, run_id: str) -> dict[int, float]:
    steps = store.steps([run_id])
    if steps.empty or "loss" not in steps.columns:
        return {}
    return dict(zip(steps["step"].astype(int), steps["loss"].astype(float), strict=True))


def _check_loss(run_id: str, ev: dict, stored: dict[int, float]) -> None:
    """The replay must reproduce the run: the same loss, bit for bit, at every step both logged."""
    want = stored.get(int(ev["step"]))
    if want is not None and ev["loss"] != want and not (math.isnan(want) and math.isnan(ev["loss"])):
        raise ReplayError(f"the replay of run {run_id} differs from the stored run at step {ev['step']} "
                          f"(loss {ev['loss']!r}, stored {want!r}: another device or torch version?); "
                          "its health was not filled in")


# ---- the packed table (schema v4) -------------------------------------------------------------------

def save_fill(store, run_id: str, first: int, every: int, rows: list[dict]) -> None:
    """rows: the loop's `layers` rows ({step, epoch, layer, *STAT_COLUMNS}), packed into one table row."""
    steps = sorted({int(r["step"]) for r in rows})
    layers = max((int(r["layer"]) for r in rows), default=0)
    at = {s: i for i, s in enumerate(steps)}
    stats = np.full((len(steps), layers, len(STAT_COLUMNS)), np.nan, dtype="<f4")
    epochs = np.zeros(len(steps), dtype="<i4")
    for r in rows:
        i = at[int(r["step"])]
        epochs[i] = int(r["epoch"])
        stats[i, int(r["layer"]) - 1] = [np.nan if r[c] is None else r[c] for c in STAT_COLUMNS]
    with store._write() as conn:
        conn.execute("INSERT OR REPLACE INTO health_fill VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     (run_id, int(first), int(every), layers, json.dumps(STAT_COLUMNS),
                      np.asarray(steps, dtype="<i4").tobytes(), epochs.tobytes(), stats.tobytes()))


def load_fill(store, run_id: str) -> pd.DataFrame | None:
    """The fill as RunStore.layer_stats' wide frame (run_id, step, epoch, layer, *columns); None if none."""
    rows = query_rows(store, "SELECT layers, columns, steps, epochs, stats FROM health_fill WHERE run_id = ?", [run_id])
    if not rows:
        return None
    layers, columns, steps, epochs, stats = rows[0]
    columns = json.loads(columns)
    steps, epochs = np.frombuffer(steps, dtype="<i4"), np.frombuffer(epochs, dtype="<i4")
    values = np.frombuffer(stats, dtype="<f4").reshape(len(steps), layers, len(columns)).astype("float64")
    frame = pd.DataFrame({"run_id": run_id, "step": np.repeat(steps, layers).astype("int64"),
                          "epoch": np.repeat(epochs, layers).astype("int64"),
                          "layer": np.tile(np.arange(1, layers + 1), len(steps)).astype("int64")})
    return pd.concat([frame, pd.DataFrame(values.reshape(-1, len(columns)), columns=columns)], axis=1)


def health_stats(store, run_ids: list[str]) -> pd.DataFrame:
    """Per-layer statistics of the runs, in their order: each run's fill when it has one, else what the run
    recorded (RunStore.layer_stats). Same columns either way."""
    filled = {r: load_fill(store, r) for r in run_ids}
    recorded = store.layer_stats([r for r in run_ids if filled[r] is None])
    parts = [filled[r] if filled[r] is not None else recorded[recorded["run_id"] == r] for r in run_ids]
    parts = [p for p in parts if not p.empty]
    if not parts:
        return recorded.iloc[:0]
    return pd.concat(parts, ignore_index=True)
