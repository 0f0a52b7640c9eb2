"""Every step's health, filled in after a run by an exact replay (engine/train/health_fill.py)."""
from __future__ import annotations

import json
import math
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from engine.store.runs import RunStore
from engine.train import health, health_fill
from engine.train.branch import prepare_branch
from engine.train.checkpoints import ReplayError
from engine.train.config import TrainConfig
from engine.train.health_fill import fill_health, fill_info, health_stats, load_fill, needs_fill
from engine.train.loop import train
from engine.train.recorder import record
from engine.train.replay import next_batch, replay

# 160 train rows, batch 32: 5 steps an epoch, 30 steps. The default cadence (a cost budget) records a sample.
CFG = TrainConfig(dataset="moons", n_samples=200, layers="8:relu,8:tanh,2:identity", optimizer="sgd", lr=0.5,
                  momentum=0.9, epochs=6, batch_size=32, device="cpu", log_every=4)


def stored(store: RunStore, cfg: TrainConfig, events=None, parent=None) -> str:
    run_id = None
    for ev in record(events if events is not None else train(cfg), store, cfg, parent=parent):
        run_id = ev.data.get("run_id", run_id)
    return run_id


@pytest.fixture()
def sparse_run(tmp_path: Path):
    """A run that recorded stats at steps 1, 6, 11, … and 30 only."""
    store = RunStore(tmp_path / "r.sqlite")
    return store, stored(store, replace(CFG, stats_every=5))


def test_a_fill_has_every_step_and_the_recorded_steps_exactly(sparse_run):
    store, run_id = sparse_run
    recorded = store.layer_stats([run_id])
    assert sorted(recorded["step"].unique()) == [1, 6, 11, 16, 21, 26, 30]
    assert needs_fill(store, run_id)
    fill = fill_health(store, run_id)
    assert (fill.first_step, fill.every, fill.steps) == (0, 1, 30)
    filled = health_stats(store, [run_id])
    assert sorted(filled["step"].unique()) == list(range(1, 31))
    assert len(filled) == 30 * 3 and set(filled["layer"]) == {1, 2, 3}
    both = recorded.merge(filled, on=["run_id", "step", "layer"], suffixes=("_rec", "_fill"))
    assert len(both) == 7 * 3
    for key in health.STAT_COLUMNS:  # the training's own numbers, bit for bit (float32 both)
        assert (both[f"{key}_rec"] == both[f"{key}_fill"]).all(), key
    assert (both["epoch_rec"] == both["epoch_fill"]).all()
    assert not needs_fill(store, run_id) and fill_info(store, run_id) == {"first_step": 0, "every": 1, "steps": 30}


@pytest.mark.parametrize("t", [2, 9, 17])
def test_filled_stats_equal_autograd_on_the_replayed_batch(sparse_run, t: int):
    """Step t's gradient norms, dead fraction and update ratio, from the replayed weights before and after step t
    and the batch step t trains on, computed here with autograd and by hand."""
    store, run_id = sparse_run
    fill_health(store, run_id)
    row = health_stats(store, [run_id]).query("step == @t").set_index("layer")
    before, after = replay(store, run_id, t - 1), replay(store, run_id, t)
    x, labels, _ = next_batch(before)
    ws = [lin.weight.detach().clone().requires_grad_() for lin in before.model.linears]
    bs = [lin.bias.detach().clone().requires_grad_() for lin in before.model.linears]
    z1 = F.linear(x, ws[0], bs[0])
    z2 = F.linear(torch.relu(z1), ws[1], bs[1])
    z3 = F.linear(torch.tanh(z2), ws[2], bs[2])
    F.cross_entropy(z3, labels).backward()
    for l, w in enumerate(ws, start=1):
        assert row.loc[l, "grad_norm"] == pytest.approx(w.grad.norm().item(), rel=1e-5)
        moved = (after.model.linears[l - 1].weight.detach() - w.detach()).norm() / w.detach().norm()
        assert row.loc[l, "update_ratio"] == pytest.approx(moved.item(), rel=1e-4)
    dead = (z1.detach().amax(dim=0) <= 0).float().mean().item()  # a ReLU unit that is ≤ 0 on every row
    assert row.loc[1, "dead_fraction"] == pytest.approx(dead, abs=1e-7)
    saturated = ((1 - torch.tanh(z2.detach()) ** 2) < 0.01).float().mean().item()
    assert row.loc[2, "saturated_fraction"] == pytest.approx(saturated, abs=1e-7)


def test_above_the_bound_a_fill_samples_evenly_and_keeps_the_last_step(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(health_fill, "MAX_STATS_STEPS", 8)  # 30 steps → every 4th
    store = RunStore(tmp_path / "r.sqlite")
    run_id = stored(store, replace(CFG, stats_every=15))
    fill = fill_health(store, run_id)
    steps = sorted(health_stats(store, [run_id])["step"].unique())
    assert fill.every == 4 and steps == [1, 5, 9, 13, 17, 21, 25, 29, 30]
    assert fill.steps == len(steps) == health_fill._fill_steps(0, 30, 4)


def test_fill_step_counts_match_the_loops_cadence():
    # the loop records s + 1 for s in [first, end) with s % every == 0, plus the last step
    for first, end, every in [(0, 30, 1), (0, 30, 4), (7, 30, 4), (8, 30, 4), (0, 1, 3), (12, 12, 1), (3, 4, 5)]:
        want = {s + 1 for s in range(first, end) if s % every == 0} | ({end} if end > first else set())
        assert health_fill._fill_steps(first, end, every) == len(want), (first, end, every)


def test_a_branch_is_filled_from_its_branch_step(sparse_run):
    store, parent = sparse_run
    b = prepare_branch(store, parent, 12, {"lr": 0.05})
    branch = stored(store, b.cfg, train(b.cfg, data=b.data, resume=b.state), parent=(parent, 12))
    fill = fill_health(store, branch)
    steps = sorted(health_stats(store, [branch])["step"].unique())
    assert fill.first_step == 12 and steps == list(range(13, 31))
    recorded = store.layer_stats([branch]).merge(health_stats(store, [branch]), on=["step", "layer"])
    assert len(recorded) and (recorded["grad_norm_x"] == recorded["grad_norm_y"]).all()


def test_a_replay_that_does_not_reproduce_the_run_stores_nothing(sparse_run):
    store, run_id = sparse_run
    with sqlite3.connect(store.path) as conn:  # as if the run had trained elsewhere: one stored loss differs
        conn.execute("UPDATE steps SET value = value + 1e-3 WHERE run_id = ? AND step = 20 AND key = 'loss'",
                     (run_id,))
    with pytest.raises(ReplayError, match="differs from the stored run at step 20"):
        fill_health(store, run_id)
    assert fill_info(store, run_id) is None and needs_fill(store, run_id)


def test_a_stopped_fill_stores_nothing(sparse_run):
    store, run_id = sparse_run

    class StopAfter:  # the loop polls is_set() once a step
        calls = 0

        def is_set(self):
            self.calls += 1
            return self.calls > 10

    with pytest.raises(ReplayError, match="ended at step 11"):
        fill_health(store, run_id, stop=StopAfter())
    assert fill_info(store, run_id) is None


def test_a_run_recorded_at_every_step_needs_no_fill(tmp_path: Path):
    store = RunStore(tmp_path / "r.sqlite")
    run_id = stored(store, replace(CFG, stats_every=1))
    assert not needs_fill(store, run_id)


def test_a_diverged_run_is_filled_up_to_its_divergence(tmp_path: Path):
    store = RunStore(tmp_path / "r.sqlite")
    cfg = TrainConfig(dataset="regression", n_samples=100, layers="4:relu,1:identity", loss="mse", init="normal",
                      lr=100.0, batch_size=10, epochs=2, device="cpu", stats_every=50)
    run_id = stored(store, cfg)
    info = store.run(run_id)
    assert info["status"] == "diverged"
    end = info["summary"]["steps"]
    fill_health(store, run_id)
    steps = sorted(health_stats(store, [run_id])["step"].unique())
    assert steps and steps[-1] < end and steps == list(range(1, steps[-1] + 1))


def test_packed_storage_round_trips_and_is_four_bytes_a_value(tmp_path: Path):
    store = RunStore(tmp_path / "r.sqlite")
    run_id = stored(store, replace(CFG, epochs=1))
    rows = [{"step": s, "epoch": 1 + s // 1000, "layer": l, **{c: s * 10 + l + i / 8 for i, c in
                                                                enumerate(health.STAT_COLUMNS)}}
            for s in range(1, 4691) for l in (1, 2, 3)]  # a 5-epoch MNIST run's worth: 4 690 steps × 3 layers
    rows[5]["grad_norm"] = None
    health_fill.save_fill(store, run_id, 0, 1, rows)
    with sqlite3.connect(store.path) as conn:
        size = conn.execute("SELECT length(stats) FROM health_fill WHERE run_id = ?", (run_id,)).fetchone()[0]
    assert size == 4690 * 3 * len(health.STAT_COLUMNS) * 4  # 0.56 MB
    back = load_fill(store, run_id)
    assert len(back) == 4690 * 3 and list(back.columns[:4]) == ["run_id", "step", "epoch", "layer"]
    r = back.iloc[7]  # step 3, layer 2
    assert (r["step"], r["layer"], r["epoch"]) == (3, 2, 1)
    assert r["act_std"] == pytest.approx(32 + 5 / 8)
    assert math.isnan(back.iloc[5]["grad_norm"])


def test_health_stats_mixes_filled_and_recorded_runs_in_order(tmp_path: Path):
    store = RunStore(tmp_path / "r.sqlite")
    a, b = stored(store, replace(CFG, stats_every=5)), stored(store, replace(CFG, stats_every=5, seed=1))
    fill_health(store, b)
    stats = health_stats(store, [b, a])
    assert list(dict.fromkeys(stats["run_id"])) == [b, a]
    assert stats.loc[stats["run_id"] == b, "step"].nunique() == 30
    assert stats.loc[stats["run_id"] == a, "step"].nunique() == 7


def test_a_v3_store_gains_the_fill_table(tmp_path: Path):
    path = tmp_path / "old.sqlite"
    RunStore(path)
    with sqlite3.connect(path) as conn:  # take it back to v3
        conn.execute("DROP TABLE health_fill")
        conn.execute("PRAGMA user_version = 3")
    store = RunStore(path, readonly=True)
    assert fill_info(store, "nope") is None  # a read-only v3 store reads as "no fill"
    RunStore(path)  # a writer migrates it
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 4
        assert conn.execute("SELECT COUNT(*) FROM health_fill").fetchone()[0] == 0


def test_cli_fill_health_and_runs_show(sparse_run, capsys):
    from engine.__main__ import main
    store, run_id = sparse_run
    assert main(["runs", "show", run_id, "--json", "--store", str(store.path)]) == 0
    assert json.loads(capsys.readouterr().out)["health_fill"] is None
    assert main(["runs", "fill-health", run_id, "--json", "--store", str(store.path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["run_id"], out["first_step"], out["every"], out["steps"]) == (run_id, 0, 1, 30)
    assert main(["runs", "show", run_id, "--json", "--store", str(store.path)]) == 0
    assert json.loads(capsys.readouterr().out)["health_fill"] == {"first_step": 0, "every": 1, "steps": 30}
    assert main(["runs", "fill-health", "nope", "--store", str(store.path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nope" in err
