"""Branches: a stored run continued from step t with changed settings, stored with parent_id and branch_step."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from engine.__main__ import main
from engine.store.runs import RunStore
from engine.train import checkpoints
from engine.train.branch import prepare_branch
from engine.train.checkpoints import ReplayError
from engine.train.config import TrainConfig
from engine.train.loop import train
from engine.train.recorder import END_KINDS, record
from engine.train.replay import replay

# 160 train rows, batch 32: 5 steps an epoch; step 7 is in the middle of epoch 2 (64 of its rows done)
PARENT = TrainConfig(dataset="moons", n_samples=200, layers="8:relu,2:identity", optimizer="sgd", lr=0.1,
                     momentum=0.9, epochs=4, batch_size=32, device="cpu")


def stored(store: RunStore, cfg: TrainConfig, events=None, parent=None) -> tuple[str, torch.nn.Module]:
    run_id, model = None, None
    for ev in record(events if events is not None else train(cfg), store, cfg, parent=parent):
        run_id = ev.data.get("run_id", run_id)
        if ev.kind in END_KINDS:
            model = ev.data["model"]
    return run_id, model


def branch_of(store: RunStore, parent_id: str, step: int, **changes) -> tuple[str, torch.nn.Module]:
    b = prepare_branch(store, parent_id, step, changes)
    return stored(store, b.cfg, train(b.cfg, data=b.data, resume=b.state), parent=(parent_id, step))


def same(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters(), strict=True))


@pytest.fixture()
def parent(tmp_path: Path):
    store = RunStore(tmp_path / "r.sqlite")
    return store, stored(store, PARENT)[0]


def test_an_unchanged_branch_mid_epoch_continues_the_parent_exactly(parent):
    store, pid = parent
    bid, _ = branch_of(store, pid, 7)
    assert checkpoints.lineage(store, bid)["parent_id"] == pid
    for t in (3, 7, 9, 12, 20):  # prefix from the parent, own steps after the branch point
        assert same(replay(store, bid, t).model, replay(store, pid, t).model), f"step {t}"


def test_a_branch_prefix_is_its_parents_and_its_replay_is_what_it_trained(parent):
    store, pid = parent
    bid, trained = branch_of(store, pid, 7, lr=0.02, batch_size=16, epochs=5)
    assert checkpoints.lineage(store, bid)["branch_step"] == 7
    for t in (0, 5, 7):
        assert same(replay(store, bid, t).model, replay(store, pid, t).model)
    # epoch 2's rest (96 rows) re-cut into 6 batches of 16, then 3 epochs of 10: 7 + 6 + 30 steps
    last = store.run(bid)["summary"]["steps"]
    assert last == 43
    assert same(replay(store, bid, last).model, trained)
    assert not same(replay(store, bid, 9).model, replay(store, pid, 9).model)


def test_the_optimizer_state_is_kept_unless_the_optimizer_changes(parent):
    store, pid = parent
    kept = prepare_branch(store, pid, 7, {"lr": 0.05})
    assert kept.optimizer_state == "kept" and kept.state["optimizer"]["state"]
    fresh = prepare_branch(store, pid, 7, {"optimizer": "adam", "lr": 0.01})
    assert fresh.optimizer_state == "fresh" and fresh.state["optimizer"] is None
    assert "parent used sgd" in fresh.note


def test_branch_errors_are_one_line(parent, capsys):
    store, pid = parent
    with pytest.raises(ReplayError, match="cannot change layers"):
        prepare_branch(store, pid, 7, {"layers": "4:relu,2:identity"})
    code = main(["train", "--branch-from", pid, "--at-step", "20", "--store", str(store.path)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "give epochs 5 or more" in err


def test_cli_branch_json_says_parent_step_and_optimizer_state(parent, capsys):
    store, pid = parent
    code = main(["train", "--branch-from", pid, "--at-step", "7", "--optimizer", "adam", "--lr", "0.01",
                 "--json", "--store", str(store.path)])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and (out["parent_id"], out["branch_step"], out["optimizer_state"]) == (pid, 7, "fresh")
    assert out["config"]["optimizer"] == "adam" and out["config"]["layers"] == PARENT.layers
    assert main(["runs", "show", out["run_id"], "--json", "--store", str(store.path)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["parent_id"], shown["branch_step"]) == (pid, 7) and shown["steps"][0]["step"] > 7


def test_an_unchanged_branch_of_a_cosine_run_continues_its_schedule(tmp_path: Path):
    # the branch resumes the parent's lr schedule at step 7 (η_7 of the cosine), not a fresh one from η_0
    store = RunStore(tmp_path / "r.sqlite")
    cfg = TrainConfig(**{**PARENT.to_dict(), "lr_schedule": "cosine"})
    pid, parent_model = stored(store, cfg)
    _, branch_model = branch_of(store, pid, 7)
    assert same(branch_model, parent_model)
