"""`python -m engine runs list [--json]`: the stored runs."""
from __future__ import annotations

import argparse
import json

from engine.runs import RunStore

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
    store = RunStore(args.store)
    if args.action == "delete":
        print(f"deleted {store.delete(args.run_ids)} run(s)")
        return 0
    if args.action == "rename":
        if len(args.run_ids) != 2:
            raise ValueError("rename takes RUN_ID NEW_NAME")
        store.rename(*args.run_ids)
        return 0
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
