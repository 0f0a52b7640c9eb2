"""A stored run's path through parameter space: its weights θ_s every k steps, reconstructed by replay.

Each point is replay's state after step s (engine.train.replay.replay_from, resumed from the point before: a
branch's steps before its branch step are its parent's), so θ_s is bitwise the weights `runs replay --step s`
gives (tests/test_landscape.py checks it). Not read off the loop's stats events: those are emitted when the
loop syncs, not right after the step they describe.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

from engine.landscape import LandscapeError
from engine.train import checkpoints
from engine.train.config import TrainConfig
from engine.train.loop import load_data
from engine.train.replay import ReplayError, last_step, replay_from

USABLE = ("finished", "stopped")  # a diverged run's blown-up weights would swamp every plane
MAX_POINTS = 52  # points of a path: 0, 1, k+1, 2k+1, …, the last step


@dataclass
class Trajectory:
    run_id: str
    cfg: TrainConfig
    steps: list[int]  # ascending, from 0 to the run's last step
    points: torch.Tensor  # (len(steps), P) float32 on the CPU: θ_s flattened in named_parameters() order


def flat(model: torch.nn.Module) -> torch.Tensor:
    """θ as one vector (P,): every parameter in named_parameters() order, a float32 CPU copy."""
    return torch.cat([p.detach().reshape(-1).to("cpu", torch.float32) for p in model.parameters()])


def layout(model: torch.nn.Module) -> list[tuple[str, torch.Size]]:
    """[(name, shape)] in the order `flat` lays the parameters out."""
    return [(name, p.shape) for name, p in model.named_parameters()]


def config_of(store, run_id: str) -> TrainConfig:
    info = store.run(run_id)
    if info["status"] not in USABLE:
        raise LandscapeError(f"run {run_id} is {info['status']}; a landscape needs finished or stopped runs")
    return TrainConfig.from_dict(info["config"])


def stride(end: int, max_points: int = MAX_POINTS) -> int:
    """k such that the path 0, 1, k+1, …, end has at most max_points points."""
    return max(1, math.ceil(end / max(max_points - 3, 1)))


def trajectory(store, run_id: str, *, data=None, every: int | None = None, tick=None) -> Trajectory:
    """The run's weights at steps 0, 1, k+1, 2k+1, … and its last step (k = every, or `stride`);
    tick(step, last_step) after each point (replaying a long run takes as long as training it)."""
    cfg = config_of(store, run_id)
    end = last_step(store.run(run_id))
    k = every or stride(end)
    lin = checkpoints.lineage(store, run_id)
    checkpoints.check_same_data(lin["data_fingerprint"], cfg, run_id)
    data = data if data is not None else load_data(cfg)
    steps, points = _path(store, run_id, end, k, data, (lambda s: tick(s, end)) if tick else None)
    return Trajectory(run_id, cfg, steps, torch.stack(points))


def path_steps(end: int, k: int) -> list[int]:
    """0, 1, k+1, 2k+1, …, and the last step."""
    steps = [0, *range(1, end + 1, k)] if end > 0 else [0]
    return steps if steps[-1] == end else [*steps, end]


def _branch_steps(store, run_id: str) -> set[int]:
    """The steps where run_id's line of ancestry forks (a path shows where a branch leaves its parent)."""
    lin = checkpoints.lineage(store, run_id)
    if lin["parent_id"] is None:
        return set()
    return {int(lin["branch_step"])} | _branch_steps(store, lin["parent_id"])


def _owner(store, run_id: str, step: int) -> str:
    """The run whose steps `step` is: a branch's steps before its branch step are its parent's."""
    lin = checkpoints.lineage(store, run_id)
    if lin["parent_id"] is not None and step < int(lin["branch_step"]):
        return _owner(store, lin["parent_id"], step)
    return run_id


def _path(store, run_id: str, upto: int, k: int, data, tick=None) -> tuple[list[int], list[torch.Tensor]]:
    """(steps, θ_s) of run_id up to step `upto`, each point replay's exact state after step s; every point
    resumes from the one before (or from a checkpoint between), so a path costs one replay of the run."""
    forks = {b for b in _branch_steps(store, run_id) if b <= upto}
    steps, points, rep = sorted(set(path_steps(upto, k)) | forks), [], None
    for s in steps:
        try:
            rep = replay_from(store, _owner(store, run_id, s), s, rep, data)
        except ReplayError as err:
            raise LandscapeError(str(err)) from None
        points.append(flat(rep.model))
        if tick is not None and s > 0:
            tick(s)
    return steps, points


def _arch(cfg: TrainConfig) -> list[dict]:
    """The network as data (every layer's kind, width, activation, options; blocks nested): '16' and '16:relu'
    are one network."""
    return [asdict(spec) for spec in cfg.layer_specs]


def check_compatible(cfgs: dict[str, TrainConfig]) -> None:
    """Refuse runs whose loss surfaces differ: another network, other data or another loss (one line)."""
    (first, a), *rest = cfgs.items()
    for rid, b in rest:
        if _arch(a) != _arch(b):
            what = f"architecture (layers {a.layers} vs {b.layers})"
        elif a.loss != b.loss:
            what = f"loss ({a.loss} vs {b.loss})"
        else:
            fa, fb = checkpoints.data_fingerprint(a), checkpoints.data_fingerprint(b)
            keys = sorted(key for key in set(fa) | set(fb) if fa.get(key) != fb.get(key))
            if not keys:
                continue
            what = "data (" + ", ".join(f"{key} {fa.get(key)} vs {fb.get(key)}" for key in keys) + ")"
        raise LandscapeError(f"runs {first} and {rid} differ in {what}; a landscape needs runs of one network "
                             "on one dataset with one loss")
