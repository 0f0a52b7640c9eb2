"""`python -m engine inspect`: one forward/backward pass, gradients manual vs autograd vs numerical."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from engine.inspector.presets import PRESETS, preset
from engine.inspector.report import trace_to_dict, trace_to_text
from engine.inspector.spec import NetworkSpec, parse_layers
from engine.inspector.trace import trace
from engine.safe_io import read_text

MAX_SPEC_BYTES = 1 << 20  # ~50 000 explicit weights; larger networks draw theirs from the seed


def add_parser(sub) -> None:
    p = sub.add_parser("inspect", help="trace one forward and backward pass",
                       description="Trace one forward and backward pass; compare manual, autograd and "
                                   "finite-difference gradients layer by layer.")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--spec", type=Path, help="a NetworkSpec JSON file")
    src.add_argument("--preset", choices=sorted(PRESETS), help="a worked example")
    p.add_argument("--input-size", type=int, default=3)
    p.add_argument("--layers", default="4:relu,2:identity", help="UNITS:ACTIVATION,… (default %(default)s)")
    p.add_argument("--loss", default="mse")
    p.add_argument("--init", default="kaiming")
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dtype", default="float64")
    p.add_argument("--no-numerical", action="store_true", help="skip finite differences")
    p.add_argument("--json", action="store_true", help="print the whole trace as one JSON object")
    p.set_defaults(run=run)


def spec_from_args(args: argparse.Namespace) -> NetworkSpec:
    if args.preset:
        return preset(args.preset)
    if args.spec:
        return NetworkSpec.from_json(read_text(args.spec, MAX_SPEC_BYTES, "spec file"))
    spec = NetworkSpec(args.input_size, parse_layers(args.layers), loss=args.loss, init=args.init,
                       seed=args.seed, dtype=args.dtype, batch=args.batch)
    return spec.check()


def run(args: argparse.Namespace) -> int:
    t = trace(spec_from_args(args), numerical=not args.no_numerical)
    print(json.dumps(trace_to_dict(t), allow_nan=False) if args.json else trace_to_text(t))
    return 0
