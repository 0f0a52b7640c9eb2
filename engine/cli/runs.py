"""`python -m engine runs list [--json]`: the stored runs."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from engine import settings
from engine.store.runs import RunStore

_COLUMNS = ("run_id", "name", "status", "created", "duration", "device", "sweep_id")


def add_parser(sub) -> None:
    p = sub.add_parser("runs", help="list stored runs", description="List, rename or delete stored runs.")
    p.add_argument("action", choices=("list", "delete", "rename"), nargs="?", default="list")
    p.add_argument("run_ids", nargs="*", help="delete: the run ids; rename: RUN_ID NEW_NAME")
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
    store = RunStore(path, create=False)
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
