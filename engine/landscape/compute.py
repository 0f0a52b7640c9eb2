"""A landscape of stored runs: plane, grid loss, projected paths and 1-D slices, within a work budget, cached.

Work is counted in multiply-adds before anything heavy runs: replaying every run (≈ 3 · steps · batch · m, a
forward and a backward per step, m = the network's multiply-adds per row) plus every loss evaluation
(grid² + path and slice points, each N rows × m). Over the budget the call is refused in one line that
names the largest grid that fits.
"""
from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

import torch

from engine.landscape import LandscapeError, finite
from engine.landscape.batched import LossEvaluator
from engine.landscape.planes import PLANES, Plane, make_plane, shared_init
from engine.landscape.slices import slices
from engine.landscape.trajectory import MAX_POINTS, Trajectory, check_compatible, config_of, trajectory
from engine.train.loop import load_data
from engine.train.replay import last_step

MIN_GRID, MAX_GRID = 3, 101
MIN_SPAN, MAX_SPAN = 1.0, 5.0  # the grid covers the projected paths' box × span (random: ± span directions)
MAX_RUNS = 6
WORK_LIMIT = 2e13  # the CLI's budget, multiply-adds: a 41×41 MNIST landscape is ~1e13
PAGE_WORK_LIMIT = 2e10  # a page visitor's: a few seconds of a 2-core server
MAX_PATH_FLOATS = 64_000_000  # every run's points × P, float32 (256 MB)
FADE_AT = 0.5  # a path farther from the plane than half its start-to-end distance is drawn faded
MAX_CACHED = 8

_CACHE: OrderedDict = OrderedDict()
_LOCK = threading.Lock()


@dataclass
class Landscape:
    plane: dict  # {"kind", "center", "explained_variance" (pca)}
    alpha: list[float]  # grid α, ascending
    beta: list[float]  # grid β, ascending
    loss: list[list[float | None]]  # (len(beta), len(alpha)): loss[i][j] = L(θ(alpha[j], beta[i]))
    paths: list[dict]  # per run: run_id, step, alpha, beta, loss, surface_loss, projection_error
    slices: list[dict]  # 1-D slices (engine/landscape/slices.py)
    rows: int  # training rows every loss averages over
    device: str
    seconds: float

    def to_json(self) -> dict:
        return {k: getattr(self, k) for k in ("plane", "alpha", "beta", "loss", "paths", "slices", "rows", "device",
                                               "seconds")}


def check_request(run_ids: list[str], plane: str | None, grid: int, span: float) -> None:
    if not 1 <= len(run_ids) <= MAX_RUNS or len(set(run_ids)) != len(run_ids):
        raise LandscapeError(f"give 1–{MAX_RUNS} different run ids, got {len(run_ids)}")
    if plane is not None and plane not in PLANES:
        raise LandscapeError(f"unknown plane {plane!r}; use one of {', '.join(PLANES)}")
    if not (isinstance(grid, int) and MIN_GRID <= grid <= MAX_GRID):
        raise LandscapeError(f"grid must be {MIN_GRID}–{MAX_GRID} points a side, got {grid!r}")
    if not (isinstance(span, (int, float)) and MIN_SPAN <= span <= MAX_SPAN):
        raise LandscapeError(f"span must be {MIN_SPAN:g}–{MAX_SPAN:g}, got {span!r}")


def work(cfgs: dict, steps: dict, n_rows: int, m: int, grid: int) -> tuple[float, float, float]:
    """(total, replay part, multiply-adds per evaluated point); m ≈ multiply-adds per row = the parameter count
    (each weight of a linear layer is one multiply-add per row)."""
    replay = sum(3 * steps[r] * min(n_rows, n_rows if c.batch_size == "full" else int(c.batch_size)) * m
                 for r, c in cfgs.items())
    per_point = n_rows * m
    points = grid * grid + len(cfgs) * (2 * MAX_POINTS + 2 * grid + 2)
    return replay + points * per_point, replay, per_point


def check_work(cfgs: dict, steps: dict, n_rows: int, m: int, grid: int, limit: float) -> None:
    total, replay, per_point = work(cfgs, steps, n_rows, m, grid)
    if total <= limit:
        return
    fits = [g for g in range(MIN_GRID, grid) if work(cfgs, steps, n_rows, m, g)[0] <= limit]
    fix = f"use a grid of at most {fits[-1]}" if fits else "no grid fits: use shorter runs or a smaller network"
    if limit < WORK_LIMIT:
        fix += f" (the command line, python -m engine landscape, allows {WORK_LIMIT:.0e})"
    raise LandscapeError(f"a {grid}×{grid} landscape of these runs is {total:.2g} multiply-adds (replaying them "
                         f"{replay:.2g}, each loss {per_point:.2g} over {n_rows:,} rows); this allows {limit:.0e}: "
                         f"{fix}")


def landscape(store, run_ids: list[str], *, plane: str | None = None, grid: int = 41, span: float = 1.2,
              center: str | None = None, seed: int = 0, work_limit: float = WORK_LIMIT, progress=None,
              device: torch.device | None = None) -> Landscape:
    """The landscape of run_ids on `plane` (None: endpoints for two runs with a shared start, else pca);
    progress(fraction, text) as it goes. Cached by (store, runs, plane, centre, seed, grid, span)."""
    check_request(run_ids, plane, grid, span)
    key = (str(store.path), tuple(run_ids), plane, center, seed, grid, float(span))
    with _LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    result = _compute(store, run_ids, plane, grid, span, center, seed, work_limit, progress or _quiet, device)
    with _LOCK:
        _CACHE[key] = result
        while len(_CACHE) > MAX_CACHED:
            _CACHE.popitem(last=False)
    return result


def _quiet(fraction: float, text: str) -> None:
    pass


def _compute(store, run_ids, plane, grid, span, center, seed, limit, progress, device) -> Landscape:
    start = time.perf_counter()
    cfgs = {rid: config_of(store, rid) for rid in run_ids}
    check_compatible(cfgs)
    progress(0.0, "loading the data")
    data = load_data(next(iter(cfgs.values())))
    steps = {rid: last_step(store.run(rid)) for rid in run_ids}
    evaluator = LossEvaluator(next(iter(cfgs.values())), data, device)
    check_work(cfgs, steps, evaluator.n_rows, sum(evaluator.sizes), grid, limit)
    trajs = _trajectories(store, run_ids, data, sum(evaluator.sizes), progress)
    kind = plane or ("endpoints" if len(trajs) == 2 and shared_init(trajs) is not None else "pca")
    pl = make_plane(kind, trajs, evaluator.layout, center=center, seed=seed)
    coords = [pl.project(t.points) for t in trajs]
    alpha, beta = _grid_axes(pl, coords, grid, span)
    aa, bb = torch.meshgrid(alpha, beta, indexing="xy")  # (len(beta), len(alpha)), row i = beta[i]
    flat_a, flat_b = aa.reshape(-1), bb.reshape(-1)
    surface = evaluator.losses(lambda lo, hi: pl.at(flat_a[lo:hi], flat_b[lo:hi]), len(flat_a),
                               _ticker(progress, 0.4, 0.9))
    paths = [_path(evaluator, pl, t, c) for t, c in zip(trajs, coords, strict=True)]
    progress(0.95, "1-D slices")
    cuts = slices(evaluator, trajs, grid, span)
    progress(1.0, "done")
    info = {"kind": kind, "center": pl.center_name}
    if pl.explained_variance is not None:
        info["explained_variance"] = pl.explained_variance
    return Landscape(info, alpha.tolist(), beta.tolist(), [finite(r) for r in surface.reshape(len(beta), -1).tolist()],
                     paths, cuts, evaluator.n_rows, str(evaluator.device), time.perf_counter() - start)


def _trajectories(store, run_ids, data, n_params: int, progress) -> list[Trajectory]:
    """Every run's path, at most MAX_PATH_FLOATS numbers in all (fewer points for big models)."""
    per_run = max(3, MAX_PATH_FLOATS // (n_params * len(run_ids)))
    out = []
    for i, rid in enumerate(run_ids):
        def tick(step: int, end: int, i: int = i, rid: str = rid) -> None:
            progress(0.4 * (i + step / max(end, 1)) / len(run_ids),
                     f"replaying run {rid} ({i + 1} of {len(run_ids)}): step {step:,} of {end:,}")

        progress(0.4 * i / len(run_ids), f"replaying run {rid} ({i + 1} of {len(run_ids)})")
        end = last_step(store.run(rid))
        every = max(1, math.ceil(end / max(min(per_run, MAX_POINTS) - 3, 1)))
        out.append(trajectory(store, rid, data=data, every=every, tick=tick))
    return out


def _grid_axes(pl: Plane, coords, grid: int, span: float) -> tuple[torch.Tensor, torch.Tensor]:
    """α and β axes: the box of every projected point and the centre, widened × span about its middle
    (random: at least ± span directions about the centre). Each side is ≥ 10 % of the other."""
    a = torch.cat([c[0] for c in coords] + [torch.zeros(1, dtype=torch.float64)])
    b = torch.cat([c[1] for c in coords] + [torch.zeros(1, dtype=torch.float64)])
    if pl.kind == "random":
        mids, halves = (0.0, 0.0), [max(1.0, a.abs().max().item()), max(1.0, b.abs().max().item())]
    else:
        mids = ((a.max() + a.min()).item() / 2, (b.max() + b.min()).item() / 2)
        halves = [(a.max() - a.min()).item() / 2, (b.max() - b.min()).item() / 2]
    top = max(max(halves), 1e-12)
    halves = [max(h, 0.1 * top) for h in halves]
    return tuple(torch.linspace(m - span * h, m + span * h, grid, dtype=torch.float64)
                 for m, h in zip(mids, halves, strict=True))


def _ticker(progress, lo: float, hi: float):
    """progress(done, total) of the grid → the caller's progress(fraction, text) between lo and hi."""
    def tick(done: int, total: int) -> None:
        progress(lo + (hi - lo) * done / total, f"loss at {done:,} of {total:,} grid points")

    return tick


def _path(evaluator, pl: Plane, traj: Trajectory, coords) -> dict:
    """A run's points on the plane: (α, β), the loss at the real weights and at their projection, and the
    projection error = distance from the plane / ‖θ_end − θ_0‖ (how far the run went)."""
    alpha, beta, dist = coords
    real = evaluator(traj.points)
    onplane = evaluator.losses(lambda lo, hi: pl.at(alpha[lo:hi], beta[lo:hi]), len(alpha))
    travelled = (traj.points[-1].double() - traj.points[0].double()).norm().clamp_min(1e-12)
    err = (dist / travelled).tolist()
    return {"run_id": traj.run_id, "step": list(traj.steps), "alpha": alpha.tolist(), "beta": beta.tolist(),
            "loss": finite(real.tolist()), "surface_loss": finite(onplane.tolist()), "projection_error": err,
            "faded": max(err) > FADE_AT}
