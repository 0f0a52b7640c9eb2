"""`python -m engine export`: a network as a standalone torch program (.py) or notebook (.ipynb)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.cli.inspect import MAX_SPEC_BYTES
from engine.export import FORMATS, export
from engine.inspector.presets import PRESETS, preset
from engine.inspector.spec import NetworkSpec
from engine.safe_io import read_text


def add_parser(sub) -> None:
    p = sub.add_parser("export", help="write a network as a standalone program or notebook",
                       description="Write a network (its exact weights and data) as a standalone torch program: "
                                   "forward, the backward pass by hand layer by layer, autograd, comparison. "
                                   "Run the program with --json for inspect's JSON shape; it exits 0 only when "
                                   "manual and autograd agree.")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--spec", type=Path, help="a NetworkSpec JSON file")
    src.add_argument("--preset", choices=sorted(PRESETS), help="a worked example")
    p.add_argument("--format", choices=sorted(FORMATS), default="py", help="py (a script) or ipynb (a notebook)")
    p.add_argument("-o", "--output", type=Path, help="the file to write (default: standard output)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    spec = preset(args.preset) if args.preset else NetworkSpec.from_json(read_text(args.spec, MAX_SPEC_BYTES,
                                                                                   "spec file"))
    text = export(spec, args.format)
    if args.output is None:
        sys.stdout.write(text)
        return 0
    if args.output.is_dir():
        example = args.output / f"network.{args.format}"
        raise ValueError(f"{args.output} is a folder; give a file name, e.g. {example}")
    try:
        args.output.write_text(text, encoding="utf-8")
    except OSError as err:
        raise ValueError(f"cannot write {args.output}: {err.strerror or err}") from None
    print(f"wrote {args.output} ({len(text):,} characters)", file=sys.stderr)
    return 0
