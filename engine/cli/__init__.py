"""The command line, `python -m engine inspect|export|train|runs|sweep|landscape …`: one module per command in
this package.

Every bad input a user can cause ends as one line on stderr and exit status 2 (`main`)."""
from __future__ import annotations

import argparse
import sys

from engine.cli import export, inspect, landscape, runs, sweep, train
from engine.store.schema import StoreError

COMMANDS = {"inspect": inspect, "export": export, "train": train, "runs": runs, "sweep": sweep,
            "landscape": landscape}

# What a user's input can raise. RecursionError: deeply nested input; MemoryError: input that slipped
# past a size budget. Both are reported, not let through as a traceback.
USER_ERRORS = (ValueError, KeyError, OSError, StoreError, RecursionError, MemoryError)


class OneLineParser(argparse.ArgumentParser):
    """Bad arguments: one line on stderr and exit status 2, never the usage block (subcommands inherit this)."""

    def error(self, message: str):
        print(f"error: {one_line(message)} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


def one_line(message: str) -> str:
    return " ".join(str(message).split())


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m engine", description="Backprop Lab from the command line.")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in COMMANDS.values():
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args) or 0
    except USER_ERRORS as err:
        print(f"error: {one_line(_message(err))}", file=sys.stderr)
        return 2


def _message(err: BaseException) -> str:
    if isinstance(err, KeyError) and err.args:
        return str(err.args[0])
    if isinstance(err, RecursionError):
        return "the input is nested too deeply"
    if isinstance(err, MemoryError):
        return "out of memory; use a smaller dataset, network or batch"
    return str(err) or type(err).__name__
