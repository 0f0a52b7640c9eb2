"""Branch a stored run at step t: continue from its exact state there with changed optimizer settings.

The branch starts from the parent's weights after step t; it keeps the parent's optimizer state when
the optimizer (and its implementation) is unchanged, and starts a fresh one when it changed. It keeps
the parent's batch order from t on: the rest of the epoch in progress is the same permutation of rows
(cut into the new batch size if that changed), and later epochs draw from the same generator state.
Its steps keep counting from t, and `epochs` still counts from the parent's start.
"""
from __future__ import annotations

from dataclasses import dataclass

from engine.train.checkpoints import ReplayError
from engine.train.config import TrainConfig
from engine.train.replay import replay

BRANCHABLE = ("lr", "optimizer", "impl", "momentum", "nesterov", "weight_decay", "betas", "eps", "batch_size",
              "epochs", "max_steps", "name")


@dataclass
class Branch:
    parent_id: str
    step: int
    cfg: TrainConfig
    state: dict  # the checkpoint state to resume from (engine/train/loop.py _Run.restore)
    data: object  # the parent's Dataset
    optimizer_state: str  # "kept" or "fresh"
    note: str  # one line for the UI / CLI: what the branch starts from


def prepare_branch(store, parent_id: str, at_step: int, changes: dict) -> Branch:
    """The config and starting state of a branch of parent_id after step at_step."""
    fixed = sorted(set(changes) - set(BRANCHABLE))
    if fixed:
        raise ReplayError(f"a branch keeps its parent's data and model; it cannot change {', '.join(fixed)} "
                          f"(it can change {', '.join(BRANCHABLE)})")
    at = replay(store, parent_id, at_step)
    d = {**at.cfg.to_dict(), "name": None, **changes}
    if "max_steps" not in changes:
        d["max_steps"] = None  # the parent's dry-run limit does not bind its branch
    cfg = TrainConfig.from_dict(d)
    if at.position["epoch"] > cfg.epochs:
        raise ReplayError(f"step {at_step} is the end of epoch {cfg.epochs}, the last one: give epochs "
                          f"{cfg.epochs + 1} or more to continue from it")
    if cfg.max_steps is not None and cfg.max_steps <= at_step:
        raise ReplayError(f"max_steps {cfg.max_steps} is not after the branch step {at_step}")
    if at.cfg.lr_schedule != "constant" and "lr" in changes and changes["lr"] != at.cfg.lr:
        raise ReplayError("a branch of a run with a learning-rate schedule keeps the schedule's rate; "
                          "branch it without --lr")
    state = at.state()
    kept = (cfg.optimizer, cfg.impl) == (at.cfg.optimizer, at.cfg.impl)
    if kept:
        note = f"optimizer state kept from the parent ({cfg.optimizer})"
    else:
        state["optimizer"] = None
        note = f"fresh optimizer state: the parent used {at.cfg.optimizer} ({at.cfg.impl}), this branch " \
               f"{cfg.optimizer} ({cfg.impl})"
    return Branch(parent_id, at_step, cfg, state, at.data, "kept" if kept else "fresh",
                  f"branch of {parent_id} after step {at_step}: its weights; {note}")
