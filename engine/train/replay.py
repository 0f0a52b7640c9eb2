"""Replay a stored run at any step t by recomputation from its nearest checkpoint.

The trainer is deterministic (seeded init, split and batch order; the same ops in the same order), so
resuming it from the checkpoint at step s ≤ t and stopping after step t gives bitwise the weights and
optimizer state a fresh `train --max-steps t` of the same config has (on the same device). A branch's
steps before its branch step are its parent's, so they are replayed from the parent.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from engine.train import checkpoints
from engine.train.checkpoints import ReplayError
from engine.train.config import TrainConfig
from engine.train.loop import _Run, load_data, train
from engine.train.model import targets
from engine.train.recorder import END_KINDS


@dataclass
class Replayed:
    """A run's state after step `step`: the model and optimizer, and where its batch order stands."""
    run_id: str
    step: int
    cfg: TrainConfig
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    position: dict  # {step, epoch, offset, order}: enough to resume (branch) from here
    data: object  # the Dataset it trained on
    schedule: dict | None = None  # the lr schedule's state (cosine runs): a resumed run must not restart it

    def state(self) -> dict:
        """A checkpoint state (engine/train/loop.py _Run.restore) of this step."""
        return {**self.position, "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "schedule": self.schedule}


def last_step(info: dict) -> int:
    steps = (info.get("summary") or {}).get("steps")
    if steps is None:
        raise ReplayError(f"run {info['run_id']} has no final step yet (status {info['status']}); "
                          "replay it once it has finished or been stopped")
    return int(steps)


def replay(store, run_id: str, step: int, data=None) -> Replayed:
    """The run's exact state after `step` (0 = the initial weights). data: the run's Dataset when the caller
    has it already (it must be the run's: check_same_data still compares the fingerprint)."""
    info = store.run(run_id)
    end = last_step(info)
    if not (isinstance(step, int) and 0 <= step <= end):
        raise ReplayError(f"step must be 0–{end} for run {run_id}, got {step!r}")
    lin = checkpoints.lineage(store, run_id)
    if lin["parent_id"] is not None and step < lin["branch_step"]:
        return replay(store, lin["parent_id"], step, data)  # a branch's prefix is its parent's
    cfg = TrainConfig.from_dict(info["config"])
    checkpoints.check_same_data(lin["data_fingerprint"], cfg, run_id)
    ck = checkpoints.nearest_checkpoint(store, run_id, step)
    if ck is None and lin["parent_id"] is not None:
        raise ReplayError(f"branch {run_id} stored no checkpoint (its model is over the checkpoint budget); "
                          "it cannot be replayed")
    return _recompute(run_id, cfg, ck, step, data)


def replay_from(store, run_id: str, step: int, near: Replayed | None, data=None) -> Replayed:
    """replay(), resumed from `near` (this run's state at an earlier step) when no checkpoint lies between:
    a player stepping forward recomputes only the steps in between. Exact for the same reason replay is."""
    if near is None or near.run_id != run_id or not near.step <= step:
        return replay(store, run_id, step, data)
    lin = checkpoints.lineage(store, run_id)
    if lin["parent_id"] is not None and near.step < lin["branch_step"]:
        return replay(store, run_id, step, near.data)  # the parent's steps: replay knows where they are
    if any(near.step < s <= step for s, _ in checkpoints.checkpoint_steps(store, run_id)):
        return replay(store, run_id, step, near.data)
    if step > last_step(store.run(run_id)):
        raise ReplayError(f"step must be 0–{last_step(store.run(run_id))} for run {run_id}, got {step!r}")
    return _recompute(run_id, near.cfg, near.state(), step, near.data)


def next_batch(rep: Replayed, max_rows: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(x, labels, targets) of the batch step t + 1 trains on, with the weights after step t: the rows
    perm[offset : offset + batch] of the epoch's permutation drawn from the position's generator state (what
    loop._epoch draws). ∂L/∂W on it at these weights is the gradient step t + 1 applies. At most max_rows."""
    data, cfg = rep.data, rep.cfg
    n = len(data.x_train)
    batch = n if cfg.batch_size == "full" else min(int(cfg.batch_size), n)
    gen = torch.Generator()
    gen.set_state(rep.position["order"])
    offset = int(rep.position["offset"])
    idx = torch.randperm(n, generator=gen)[offset:offset + batch][:max_rows]
    labels = data.y_train[idx]
    return data.x_train[idx], labels, targets(cfg, data, labels)


def _recompute(run_id: str, cfg: TrainConfig, ck: dict | None, step: int, data=None) -> Replayed:
    data = data if data is not None else load_data(cfg)
    start = 0 if ck is None else int(ck["step"])
    if step == start:  # nothing to run: the checkpoint (or the seeded init) is the state
        run = _Run(cfg, data)
        first = run.restore(ck) if ck is not None else 1
        schedule = run.schedule.state_dict() if run.schedule is not None else None
        return Replayed(run_id, step, cfg, run.model, run.opt, run.position(first), data, schedule)
    end = None
    for ev in train(replace(cfg, max_steps=step), data=data, resume=ck):
        if ev.kind in END_KINDS:
            end = ev.data
    if end["step"] != step:
        raise ReplayError(f"replaying run {run_id} ended at step {end['step']}, not {step}: {end['message']}")
    return Replayed(run_id, step, cfg, end["model"], end["optimizer"], end["position"], data, end["schedule"])


def parameters(model) -> list[dict]:
    """[{"weight": (out, in) nested lists, "bias": (out,)}] per linear layer, as `train --dump-params`."""
    return [{"weight": lin.weight.detach().cpu().tolist(), "bias": lin.bias.detach().cpu().tolist()}
            for lin in model.linears]
