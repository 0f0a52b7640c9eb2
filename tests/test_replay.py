"""Replay: a stored run's state at step t equals a fresh run of the same config stopped after step t, bitwise."""
from __future__ import annotations

import json
import pickle
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from engine.__main__ import main
from engine.store.runs import RunStore
from engine.train import checkpoints
from engine.train.checkpoints import ReplayError
from engine.train.config import TrainConfig
from engine.train.loop import train
from engine.train.recorder import END_KINDS, record
from engine.train.replay import next_batch, replay, replay_from

# 200 rows, 20 % validation → 160 train rows; batch 32 → 5 steps an epoch, checkpoints at 0, 5, 10, 15
BASE = TrainConfig(dataset="moons", n_samples=200, layers="8:relu,8:tanh,2:identity", epochs=4, batch_size=32,
                   device="cpu", stats_every=3, log_every=2)
CONFIGS = {
    "sgd-momentum": replace(BASE, optimizer="sgd", lr=0.1, momentum=0.9),
    "adam": replace(BASE, optimizer="adam", lr=0.01),
    "manual-backward": replace(BASE, optimizer="sgd", lr=0.1, momentum=0.5, backward="manual"),
    "cosine-schedule": replace(BASE, optimizer="sgd", lr=0.1, momentum=0.9, lr_schedule="cosine"),
}


def stored_run(store: RunStore, cfg: TrainConfig) -> str:
    run_id = None
    for ev in record(train(cfg), store, cfg):
        run_id = ev.data.get("run_id", run_id)
    return run_id


def fresh_weights(cfg: TrainConfig, steps: int) -> list[torch.Tensor]:
    end = [ev for ev in train(replace(cfg, max_steps=steps)) if ev.kind in END_KINDS][-1]
    return [p.detach().clone() for p in end.data["model"].parameters()]


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_replay_equals_fresh_training_stopped_at_t(tmp_path: Path, name: str):
    cfg = CONFIGS[name]
    store = RunStore(tmp_path / "r.sqlite")
    run_id = stored_run(store, cfg)
    assert [s for s, _ in checkpoints.checkpoint_steps(store, run_id)] == [0, 5, 10, 15]
    for t in (3, 5, 7, 10, 13, 20):  # between checkpoints, on them, and the last step
        got = [p.detach() for p in replay(store, run_id, t).model.parameters()]
        want = fresh_weights(cfg, t)
        assert all(torch.equal(a, b) for a, b in zip(got, want, strict=True)), f"step {t}"


def test_step_0_is_the_seeded_initial_weights(tmp_path: Path):
    cfg = CONFIGS["adam"]
    store = RunStore(tmp_path / "r.sqlite")
    run_id = stored_run(store, cfg)
    start = next(ev for ev in train(cfg) if ev.kind == "start").data["model"]
    got = replay(store, run_id, 0).model
    assert all(torch.equal(a, b) for a, b in zip(got.parameters(), start.parameters(), strict=True))


def test_cli_replay_prints_what_train_dump_params_prints(tmp_path: Path, capsys):
    store = str(tmp_path / "r.sqlite")
    args = ["train", "--dataset", "moons", "--n-samples", "200", "--layers", "8:relu,2:identity", "--lr", "0.1",
            "--momentum", "0.9", "--epochs", "3", "--device", "cpu", "--json"]
    assert main([*args, "--store", store]) == 0
    run_id = json.loads(capsys.readouterr().out)["run_id"]
    assert main(["runs", "replay", run_id, "--step", "7", "--json", "--store", store]) == 0
    replayed = json.loads(capsys.readouterr().out)
    assert main([*args, "--max-steps", "7", "--dump-params", "--no-store"]) == 0
    fresh = json.loads(capsys.readouterr().out)
    assert replayed == {"step": 7, "layers": fresh["parameters"]["layers"]}
    assert main(["runs", "show", run_id, "--json", "--store", store]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["status"], shown["parent_id"], shown["branch_step"]) == ("finished", None, None)
    assert [e["epoch"] for e in shown["epochs"]] == [1, 2, 3] and shown["steps"][-1]["step"] == 15


def test_a_step_past_the_run_is_one_line_and_exit_2(tmp_path: Path, capsys):
    store = RunStore(tmp_path / "r.sqlite")
    run_id = stored_run(store, CONFIGS["adam"])
    assert main(["runs", "replay", run_id, "--step", "21", "--store", str(store.path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "step must be 0–20" in err


def test_a_changed_or_missing_csv_is_detected(tmp_path: Path):
    csv = tmp_path / "d.csv"
    rows = [f"{i / 10},{(i * 7) % 5 / 10},{i % 2}" for i in range(60)]
    csv.write_text("a,b,y\n" + "\n".join(rows) + "\n")
    cfg = TrainConfig(dataset="csv", csv_path=str(csv), target="y", layers="4:relu,2:identity", epochs=2,
                      batch_size=16, device="cpu")
    store = RunStore(tmp_path / "r.sqlite")
    run_id = stored_run(store, cfg)
    replay(store, run_id, 4)  # unchanged: fine
    csv.write_text("a,b,y\n" + "\n".join(rows[:-1] + ["0.5,0.5,1"]) + "\n")
    with pytest.raises(ReplayError, match="the data changed since run .*bytes|sha256"):
        replay(store, run_id, 4)
    csv.unlink()
    with pytest.raises(ReplayError, match="which is gone"):
        replay(store, run_id, 4)


def test_checkpoints_stay_within_the_budget():
    assert checkpoints.stride_epochs(1_000_000, 5) == 1  # MNIST-sized: every epoch
    size = 12 * 1024 * 1024  # 4 fit in 50 MB: the first, then every ⌈10/3⌉ = 4 epochs → steps 0, 4, 8
    k = checkpoints.stride_epochs(size, 10)
    assert k == 4 and (1 + 10 // k) * size <= checkpoints.MAX_RUN_BYTES
    assert checkpoints.stride_epochs(60 * 1024 * 1024, 10) is None


def test_a_blob_that_is_not_plain_tensors_is_refused():
    class Evil:
        def __reduce__(self):
            return (print, ("ran code",))
    with pytest.raises(ReplayError, match="cannot be read"):
        checkpoints.from_bytes(pickle.dumps(Evil()))


@pytest.mark.parametrize("name", ["cosine-schedule", "adam"])
def test_replay_from_an_earlier_state_equals_fresh_training(tmp_path: Path, name: str):
    # a player steps 1 → 3 → 4 → 9 → 20 resuming from its last frame (checkpoints at 5, 10, 15 in between)
    cfg = CONFIGS[name]
    store = RunStore(tmp_path / "r.sqlite")
    run_id = stored_run(store, cfg)
    near = replay(store, run_id, 1)
    for t in (3, 4, 9, 20):
        near = replay_from(store, run_id, t, near)
        got = [p.detach() for p in near.model.parameters()]
        assert all(torch.equal(a, b) for a, b in zip(got, fresh_weights(cfg, t), strict=True)), f"step {t}"


def test_next_batch_is_the_rows_step_t_plus_1_trains_on(tmp_path: Path):
    # 160 rows, batch 32, 5 steps an epoch: step 8 is epoch 2's 3rd batch, rows 64:96 of its permutation,
    # the second randperm(160) of a generator seeded seed + 1 (how the trainer orders batches)
    cfg = CONFIGS["sgd-momentum"]
    store = RunStore(tmp_path / "r.sqlite")
    run_id = stored_run(store, cfg)
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    perms = [torch.randperm(160, generator=gen) for _ in range(3)]
    for t, rows in ((0, perms[0][:32]), (7, perms[1][64:96]), (10, perms[2][:32])):
        rep = replay(store, run_id, t)
        x, labels, target = next_batch(rep, max_rows=None)
        assert torch.equal(x, rep.data.x_train[rows]) and torch.equal(labels, rep.data.y_train[rows])
        assert torch.equal(target, labels)  # cross-entropy compares with the class indices
    assert len(next_batch(replay(store, run_id, 7), max_rows=8)[0]) == 8


def test_a_5_epoch_mnist_runs_checkpoints_stay_within_50_mb():
    """The MNIST network's real checkpoint (weights + SGD momentum buffers), made the way the loop makes it:
    a checkpoint every epoch plus the first, 6 for 5 epochs, and the every-step health fill, within the bound."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(784, 128), torch.nn.ReLU(), torch.nn.Linear(128, 64),
                                torch.nn.ReLU(), torch.nn.Linear(64, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    torch.nn.functional.cross_entropy(model(torch.randn(64, 784)), torch.randint(0, 10, (64,))).backward()
    opt.step()
    blob = checkpoints.to_bytes({"step": 938, "epoch": 2, "offset": 0, "order": torch.Generator().get_state(),
                                 "model": model.state_dict(), "optimizer": opt.state_dict(), "schedule": None})
    assert 2 * 109_386 * 4 < len(blob) < 2 * 109_386 * 4 * 1.05  # weights + momentum, float32, little overhead
    k = checkpoints.stride_epochs(len(blob), 5)
    fill = 4690 * 3 * 10 * 4  # engine/train/health_fill.py: float32 steps × layers × columns
    assert k == 1 and (1 + 5 // k) * len(blob) + fill < checkpoints.MAX_RUN_BYTES
