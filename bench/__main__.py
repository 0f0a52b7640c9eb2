"""`python -m bench`: every row, a table on stdout, the same as JSON (bench/results/latest.json).

  python -m bench                 # all rows (~5–10 min on 2 cores; row 7 trains 5 MNIST epochs)
  python -m bench --quick         # tiny sizes, 2 repeats: checks that every row runs, measures nothing
  python -m bench --only 1,5      # some rows (a group id like 4 or 6 selects 4a/4b or every page)
  python -m bench --only 10       # the browser rows: the real server in Chromium, against issue 11's targets
  python -m bench --only 11       # the server's memory over a class of 60 visitors (6–10 min)
  python -m bench --threads 1     # torch.set_num_threads(1) first
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import torch

from bench import Context, Result, rows_browser, rows_engine, rows_gpu, rows_mnist, rows_pages, rows_soak

DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "latest.json"


def groups():
    """(row ids, function) in table order."""
    by_first = {ids[0]: (ids, fn) for ids, fn in
                rows_mnist.GROUPS + rows_engine.GROUPS + rows_gpu.GROUPS + rows_pages.groups()
                + rows_browser.GROUPS + rows_soak.GROUPS}
    order = ["1", "3", "4a", "5", "5b", *[k for k in by_first if k.startswith("6:")], "7", "8a", "9a", "9b",
             "10:first", "11"]
    return [by_first[k] for k in order if k in by_first]


def row_names() -> dict[str, str]:
    """Every row id → its name, in table order (the smoke test checks each is printed)."""
    names = {**rows_mnist.ROWS, **rows_engine.ROWS, **rows_gpu.ROWS, **rows_pages.page_rows_named(),
             **rows_browser.ROWS, **rows_soak.ROWS}
    return {row: names[row] for ids, _ in groups() for row in ids}


def _selected(row: str, only: list[str] | None) -> bool:
    return not only or any(token in (row, re.match(r"\d+", row).group()) for token in only)


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    return {"s": f"{value:.3f} s", "ms": f"{value:.3f} ms", "%": f"{value:.2f} %",
            "MB": f"{value:.2f} MB"}.get(unit, f"{value:g}")


def table(results: list[Result]) -> str:
    head = ["row", "ours", "baseline", "ratio", "target", "met?", "noise", "what"]
    lines = []
    for r in results:
        met = "—" if r.met is None else ("yes" if r.met else "NO")
        ratio = "—" if r.ratio is None else f"{r.ratio:.2f}×"
        what = r.name + (f" [{r.note}]" if r.note else "")
        lines.append([r.row, _fmt(r.ours, r.unit), _fmt(r.baseline, r.unit), ratio, r.target, met, r.noise, what])
    widths = [max(len(str(x)) for x in col) for col in zip(head, *lines, strict=False)][:-1]
    out = []
    for line in [head, *lines]:
        out.append(" | ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=False)) + " | " + line[-1])
    out.insert(1, "-+-".join("-" * w for w in widths) + "-+-" + "-" * 20)
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes and 2 repeats: a smoke run")
    p.add_argument("--only", help="comma-separated row ids or groups, e.g. 1,4,6:home")
    p.add_argument("--repeats", type=int, help="timed repeats per row after one warm-up (default 5; --quick 2)")
    p.add_argument("--threads", type=int, help="torch.set_num_threads(N) before anything runs")
    p.add_argument("--json", default=str(DEFAULT_JSON), help=f"where to write the results (default {DEFAULT_JSON})")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    only = [t.strip() for t in args.only.split(",")] if args.only else None
    repeats = args.repeats or (2 if args.quick else 5)
    load_before = os.getloadavg()
    started = time.perf_counter()
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        ctx = Context(quick=args.quick, repeats=repeats, tmp=tmp)
        for ids, fn in groups():
            wanted = [row for row in ids if _selected(row, only)]
            if not wanted:
                continue
            print(f"running {', '.join(wanted)} …", file=sys.stderr, flush=True)
            try:
                got = fn(ctx)
            except Exception as err:  # one broken row must not hide the others
                names = row_names()
                got = [Result(row, names[row], note=f"error: {type(err).__name__}: {err}"[:200]) for row in ids]
            results += [r for r in got if r.row in wanted]
    meta = {"created": datetime.now(UTC).isoformat(timespec="seconds"), "command": " ".join(sys.argv),
            "python": platform.python_version(), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "cpu_count": os.cpu_count(), "machine": platform.machine(), "quick": args.quick, "repeats": repeats,
            "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
            "load_average_before": load_before, "load_average_after": os.getloadavg(),
            "seconds": time.perf_counter() - started}
    print(f"torch {meta['torch']}, {meta['threads']} threads, {meta['cpu_count']} CPUs, load average "
          f"{load_before[0]:.1f} → {meta['load_average_after'][0]:.1f}, repeats {repeats}"
          + (" (--quick: not a measurement)" if args.quick else ""))
    print(table(results))
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = [{**asdict(r), "ratio": r.ratio} for r in results]
    out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1, default=str))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
