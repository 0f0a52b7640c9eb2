"""`python -m engine landscape --runs ID1,ID2[,…]`: the loss landscape of stored runs, with their paths on it."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from engine import settings
from engine.landscape.compute import MAX_GRID, MIN_GRID, landscape
from engine.landscape.planes import CENTERS, PLANES
from engine.store.runs import RunStore


def add_parser(sub) -> None:
    p = sub.add_parser("landscape", help="the loss landscape of stored runs, with each run's path on it",
                       description="The full-training-set loss over a plane through parameter space (endpoints: "
                                   "through the shared initial and both final weights; pca: the paths' first two "
                                   "principal components; random: filter-normalised random directions, Li et al. "
                                   "2018), each run's path projected onto it, and 1-D slices.")
    p.add_argument("--runs", required=True, help="comma-separated run ids (same network, data and loss)")
    p.add_argument("--plane", choices=PLANES, help="default: endpoints for two runs with a shared start, else pca")
    p.add_argument("--center", choices=CENTERS, help="pca: centre on the shared initial weights or the paths' mean")
    p.add_argument("--grid", type=int, default=41, help=f"grid points a side ({MIN_GRID}–{MAX_GRID})")
    p.add_argument("--span", type=float, default=1.2,
                   help="the grid covers the paths' box × span (random: ± span filter-normalised directions)")
    p.add_argument("--seed", type=int, default=0, help="random plane: the directions' seed")
    p.add_argument("--store", help="the run store's SQLite file (default: BACKPROP_LAB_STORE or .backprop-lab)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    path = Path(args.store) if args.store else settings.default_store_path()
    if not path.is_file():
        raise ValueError(f"no run store at {path}; train runs first or give --store PATH")
    run_ids = [r.strip() for r in args.runs.split(",") if r.strip()]
    show = _progress if (not args.json and sys.stderr.isatty()) else None
    result = landscape(RunStore(path, readonly=True), run_ids, plane=args.plane, grid=args.grid, span=args.span,
                       center=args.center, seed=args.seed, progress=show)
    if args.json:
        print(json.dumps(result.to_json()))
        return 0
    _summary(result)
    return 0


def _progress(fraction: float, text: str) -> None:
    print(f"\r{fraction:4.0%} {text[:70]:<70}", end="" if fraction < 1 else "\n", file=sys.stderr)


def _summary(result) -> None:
    plane = result.plane
    share = plane.get("explained_variance")
    extra = f", explained variance {share[0]:.1%} + {share[1]:.1%}" if share else ""
    losses = [v for row in result.loss for v in row if v is not None]
    print(f"plane {plane['kind']} through {plane['center']}{extra}; {len(result.beta)}×{len(result.alpha)} grid over "
          f"{result.rows:,} training rows on {result.device} in {result.seconds:.1f} s")
    print(f"  α {result.alpha[0]:.4g} … {result.alpha[-1]:.4g}, β {result.beta[0]:.4g} … {result.beta[-1]:.4g}; "
          f"loss {min(losses):.4g} … {max(losses):.4g}")
    for p in result.paths:
        print(f"  run {p['run_id']}: {len(p['step'])} points, steps 0…{p['step'][-1]}, loss {p['loss'][0]:.4g} → "
              f"{p['loss'][-1]:.4g}, largest projection error {max(p['projection_error']):.3g}"
              + ("  (far from the plane: the picture may mislead)" if p["faded"] else ""))
    for s in result.slices:
        if s["kind"] == "final_final":
            print(f"  barrier between {s['run_ids'][0]} and {s['run_ids'][1]}: {s['barrier']:.4g}")
