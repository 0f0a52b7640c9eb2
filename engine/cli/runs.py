"""`python -m engine runs list|show|replay|fill-health|delete|rename`: the stored runs; a run's record, its state
at a step, and its every-step health filled in by an exact replay."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from engine import settings
from engine.store.runs import RunStore
from engine.train import checkpoints
from engine.train.health_fill import fill_health, fill_info
from engine.train.replay import parameters, replay

_COLUMNS = ("run_id", "name", "status", "created", "duration", "device", "sweep_id")


def add_parser(sub) -> None:
    p = sub.add_parser("runs", help="list stored runs", description="List, rename or delete stored runs.")
    p.add_argument("action", choices=("list", "show", "replay", "fill-health", "delete", "rename"), nargs="?",
                   default="list")
    p.add_argument("run_ids", nargs="*",
                   help="show, replay, fill-health: RUN_ID; delete: the run ids; rename: RUN_ID NEW_NAME")
    p.add_argument("--step", type=int, help="replay: the step whose parameters to print (0 = initial weights)")
    p.add_argument("--store", help="the run store's SQLite file (default: BACKPROP_LAB_STORE or .backprop-lab)")
    p.add_argument("--sweep", help="only the runs of this sweep id")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    path = Path(args.store) if args.store else settings.default_store_path()
    if args.action == "list":
        if not path.exists():  # a listing never creates anything, not even the folder
            print("[]" if args.json else "no stored runs")
            return 0
        return _list(RunStore(path, readonly=True), args)
    if args.action in ("show", "replay"):
        if len(args.run_ids) != 1:
            raise ValueError(f"{args.action} takes one RUN_ID")
        store = RunStore(path, readonly=True)
        return _show(store, args.run_ids[0], args.json) if args.action == "show" else _replay(store, args)
    store = RunStore(path, create=False)
    if args.action == "fill-health":
        return _fill(store, args)
    if args.action == "delete":
        print(f"deleted {store.delete(args.run_ids)} run(s)")
        return 0
    if args.action == "rename":
        if len(args.run_ids) != 2:
            raise ValueError("rename takes RUN_ID NEW_NAME")
        store.rename(*args.run_ids)
        return 0
    raise AssertionError(args.action)  # argparse's choices allow nothing else


def _list(store: RunStore, args: argparse.Namespace) -> int:
    df = store.runs(sweep_id=args.sweep)
    if args.json:
        rows = [{"run_id": r.run_id, "name": r.name, "status": r.status, "created": r.created.isoformat(),
                 "duration": r.duration, "device": r.device, "sweep_id": r.sweep_id, "config": r.config,
                 "summary": r.summary} for r in df.itertuples()]
        print(json.dumps(rows, default=str))
    elif df.empty:
        print("no stored runs")
    else:
        cols = [c for c in _COLUMNS if c in df.columns] + [c for c in ("summary.final_val_loss",
                                                                        "summary.test_accuracy") if c in df.columns]
        print(df[cols].to_string(index=False))
    return 0


def run_record(store: RunStore, run_id: str) -> dict:
    """A run as `runs show --json` prints it: config, status, lineage, epochs, step losses, checkpoints."""
    info = store.run(run_id)
    lin = checkpoints.lineage(store, run_id)
    epochs = store.epochs([run_id]).drop(columns="run_id")
    steps = store.steps([run_id])
    return {"run_id": run_id, "name": info["name"], "status": info["status"], "message": info["message"],
            "config": info["config"], "summary": info["summary"], "parent_id": lin["parent_id"],
            "branch_step": lin["branch_step"], "data_fingerprint": lin["data_fingerprint"],
            "epochs": json.loads(epochs.to_json(orient="records")),
            "steps": [{"step": int(s), "loss": float(v)} for s, v in zip(steps["step"], steps.get("loss", []),
                                                                        strict=False)],
            "checkpoints": [{"step": s, "bytes": b} for s, b in checkpoints.checkpoint_steps(store, run_id)],
            "health_fill": fill_info(store, run_id)}


def _show(store: RunStore, run_id: str, as_json: bool) -> int:
    rec = run_record(store, run_id)
    if as_json:
        print(json.dumps(rec, default=str))
        return 0
    family = f"  branch of {rec['parent_id']} at step {rec['branch_step']}" if rec["parent_id"] else ""
    print(f"run {run_id} ({rec['name']}): {rec['status']}{family}")
    print(f"  {rec['summary'].get('steps')} steps, {len(rec['epochs'])} epochs; checkpoints at steps "
          f"{[c['step'] for c in rec['checkpoints']]} ({sum(c['bytes'] for c in rec['checkpoints']):,} bytes)")
    for e in rec["epochs"]:
        print(f"  epoch {e['epoch']:3d}  train_loss {e.get('train_loss')}  val_loss {e.get('val_loss')}")
    return 0


def _fill(store: RunStore, args: argparse.Namespace) -> int:
    """Replay the run with health statistics at every step (every k-th above 5 000 steps) and store them."""
    if len(args.run_ids) != 1:
        raise ValueError("fill-health takes one RUN_ID")
    fill = fill_health(store, args.run_ids[0])
    out = {"run_id": fill.run_id, "first_step": fill.first_step, "every": fill.every, "steps": fill.steps,
           "seconds": round(fill.seconds, 3)}
    print(json.dumps(out) if args.json else f"run {fill.run_id}: health at every {fill.every} step(s) after step "
          f"{fill.first_step}, {fill.steps} steps, filled in {fill.seconds:.1f} s")
    return 0


def _replay(store: RunStore, args: argparse.Namespace) -> int:
    if args.step is None:
        raise ValueError("replay needs --step T (0 = the initial weights)")
    state = replay(store, args.run_ids[0], args.step)
    layers = parameters(state.model)
    if args.json:
        print(json.dumps({"step": state.step, "layers": layers}))
    else:
        print(f"run {args.run_ids[0]} at step {state.step} (epoch {state.position['epoch']}, "
              f"{state.position['offset']} rows of its batch order done)")
        for i, layer in enumerate(layers, start=1):
            w = torch.tensor(layer["weight"])
            print(f"  layer {i}: W {tuple(w.shape)}  |W| = {w.norm():.6g}  b = {layer['bias'][:4]}…")
    return 0
