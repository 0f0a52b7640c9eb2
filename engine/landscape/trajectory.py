"""A stored run's path through parameter space: its weights θ_s every k steps, reconstructed by replay.

The trainer is replayed from the run's start (a branch: its parent's path up to the branch step, then its own
from its checkpoint there) with `stats_every = k`: the loop emits a `layers` event right after the optimizer
step of steps 1, k+1, 2k+1, … and of the last step, and at that moment the model holds θ_s. Changing
stats_every changes what is recorded, not the arithmetic, so θ_s is bitwise the weights `runs replay --step s`
gives (tests/test_landscape_trajectory.py checks it).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import torch

from engine.landscape import LandscapeError
from engine.train import checkpoints
from engine.train.config import TrainConfig
from engine.train.loop import load_data, train
from engine.train.recorder import END_KINDS
from engine.train.replay import last_step

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


def _path(store, run_id: str, upto: int, k: int, data, tick=None) -> tuple[list[int], list[torch.Tensor]]:
    """(steps, θ_s) of run_id up to step `upto`; a branch's steps before its branch step are its parent's."""
    cfg = TrainConfig.from_dict(store.run(run_id)["config"])
    lin = checkpoints.lineage(store, run_id)
    steps, points, resume = [], [], None
    if lin["parent_id"] is not None:
        b = int(lin["branch_step"])
        if upto <= b:
            return _path(store, lin["parent_id"], upto, k, data, tick)
        steps, points = _path(store, lin["parent_id"], b, k, data, tick)
        resume = checkpoints.nearest_checkpoint(store, run_id, b)
        if resume is None or int(resume["step"]) != b:
            raise LandscapeError(f"branch {run_id} stored no checkpoint at its branch step {b}; it cannot be replayed")
        steps, points = steps[:-1], points[:-1]  # step b comes again as the branch's start
    first = 0 if resume is None else int(resume["step"])
    events = train(replace(cfg, max_steps=max(upto, 1), stats_every=k), data=data, resume=resume)
    model = None
    for ev in events:
        if ev.kind == "start":
            model = ev.data["model"]
            steps.append(first)
            points.append(flat(model))
            if upto == first:
                events.close()
                break
        elif ev.kind == "layers" and ev.data["step"] != steps[-1]:
            steps.append(int(ev.data["step"]))
            points.append(flat(model))
            if tick is not None:
                tick(steps[-1])
        elif ev.kind in END_KINDS:
            if ev.data["step"] != upto:
                raise LandscapeError(f"replaying run {run_id} ended at step {ev.data['step']}, not {upto}: "
                                     f"{ev.data['message']}")
            if steps[-1] != upto:
                steps.append(upto)
                points.append(flat(model))
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
