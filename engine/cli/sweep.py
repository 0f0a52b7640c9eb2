"""`python -m engine sweep`: a grid of runs (inits × optimizers × lrs × seeds × batch sizes) into the run store."""
from __future__ import annotations

import argparse
import json

from engine.core.spec import LAYER_SYNTAX
from engine.data.load import DATASETS
from engine.store.runs import RunStore
from engine.sweep.executors import (
    EXECUTORS,
    PointResult,
    batch_size_value,
    expand_grid,
    new_sweep_id,
    parse_values,
    run_sweep,
)


def add_parser(sub) -> None:
    p = sub.add_parser("sweep", help="run a grid of training runs",
                       description="Run every combination of inits × optimizers × learning rates × seeds × batch "
                                   "sizes; each is a stored run grouped under one sweep id.")
    p.add_argument("--dataset", choices=DATASETS, required=True)
    p.add_argument("--n-samples", type=int, default=1000)
    p.add_argument("--noise", type=float, default=0.1)
    p.add_argument("--layers", required=True, help=f"comma-separated layers: {LAYER_SYNTAX}; e.g. 16:relu,2:identity")
    p.add_argument("--loss", default="cross_entropy")
    p.add_argument("--inits", "--init", dest="inits", default="kaiming",
                   help="comma-separated inits, e.g. kaiming,torch")
    p.add_argument("--optimizers", default="sgd", help="comma-separated, e.g. sgd,adam,rmsprop")
    p.add_argument("--lrs", default="0.1", help="comma-separated learning rates, e.g. 0.01,0.1")
    p.add_argument("--seeds", default="0", help="comma-separated seeds, e.g. 0,1,2")
    p.add_argument("--batch-sizes", default="32", help="comma-separated batch sizes (or 'full')")
    p.add_argument("--momentum", type=float, default=0.0)
    p.add_argument("--nesterov", action="store_true", help="Nesterov momentum (sgd with --momentum > 0)")
    p.add_argument("--val-fraction", type=float, default=0.2, help="rows held out for validation (0: none)")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--lr-schedules", default="constant", help="comma-separated: constant, cosine")
    p.add_argument("--max-steps", type=int, help="stop each run after this many steps (a quick dry run)")
    p.add_argument("--device", default="auto")
    p.add_argument("--executor", choices=EXECUTORS, default="local",
                   help="local: one after another; process: --workers processes; ray: Ray tasks")
    p.add_argument("--workers", type=int, default=2,
                   help="worker processes for --executor process (at most max(2, cores))")
    p.add_argument("--ray-address", help="an existing Ray cluster (default: start a local Ray instance)")
    p.add_argument("--store", help="the run store's SQLite file (default: BACKPROP_LAB_STORE or .backprop-lab)")
    p.add_argument("--json", action="store_true", help="print one JSON object at the end")
    p.set_defaults(run=run)


def grid_from_args(args: argparse.Namespace) -> dict:
    return {"init": parse_values(args.inits, str, "--inits"),
            "optimizer": parse_values(args.optimizers, str, "--optimizers"),
            "lr": parse_values(args.lrs, float, "--lrs"),
            "lr_schedule": parse_values(args.lr_schedules, str, "--lr-schedules"),
            "seed": parse_values(args.seeds, int, "--seeds"),
            "batch_size": parse_values(args.batch_sizes, batch_size_value, "--batch-sizes")}


def run(args: argparse.Namespace) -> int:
    if args.ray_address and args.executor != "ray":
        raise ValueError("--ray-address needs --executor ray")
    base = {"dataset": args.dataset, "n_samples": args.n_samples, "noise": args.noise, "layers": args.layers,
            "loss": args.loss, "momentum": args.momentum, "nesterov": args.nesterov,
            "val_fraction": args.val_fraction, "epochs": args.epochs,
            "max_steps": args.max_steps, "device": args.device}
    configs = expand_grid(base, grid_from_args(args))
    store = RunStore(args.store)
    sweep_id = new_sweep_id()
    if not args.json:
        print(f"sweep {sweep_id}: {len(configs)} runs, executor {args.executor}", flush=True)

    def progress(done: int, total: int, point: PointResult) -> None:
        if not args.json:
            print(f"[{done}/{total}] {_line(point)}", flush=True)

    result = run_sweep(configs, store, executor=args.executor, workers=args.workers, ray_address=args.ray_address,
                       sweep_id=sweep_id, progress=progress)
    if args.json:
        print(json.dumps({"sweep_id": result.sweep_id, "executor": args.executor,
                          "runs": [_json_point(p, configs[p.index]) for p in result.points]}))
    return 1 if any(p.status == "failed" for p in result.points) else 0


def _line(p: PointResult) -> str:
    s = p.summary
    val = f"  val_loss {s['val_loss']:.4f}" if s.get("val_loss") is not None else ""
    acc = f"  val_acc {s['val_accuracy']:.3f}" if s.get("val_accuracy") is not None else ""
    tail = "" if p.status == "finished" else f"  ({p.message})"
    return f"{p.run_id or '-':12}  {p.name:28}  {p.status:8}{val}{acc}{tail}"


def _json_point(p: PointResult, cfg) -> dict:
    return {"run_id": p.run_id, "name": p.name, "status": p.status, "message": p.message,
            "init": cfg.init, "optimizer": cfg.optimizer, "lr": cfg.lr, "lr_schedule": cfg.lr_schedule,
            "seed": cfg.seed, "batch_size": cfg.batch_size,
            "summary": p.summary}
