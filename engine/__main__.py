"""`python -m engine COMMAND …`: inspect, train, runs, sweep, bench. Each lives in engine/cli_<command>.py."""
from __future__ import annotations

import argparse
import importlib
import sys

from engine.runs_schema import StoreError

COMMANDS = ("inspect", "train", "runs", "sweep")  # modules that are missing are simply not offered

# What a user's input can raise. RecursionError: deeply nested input; MemoryError: input that slipped
# past a size budget. Both are reported, not let through as a traceback.
USER_ERRORS = (ValueError, KeyError, OSError, StoreError, RecursionError, MemoryError)


class CliError(Exception):
    """A bad argument: printed as one line on stderr, exit status 2."""


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
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"engine.cli_{name}")
        except ModuleNotFoundError as err:
            if err.name != f"engine.cli_{name}":
                raise
            continue
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args) or 0
    except (CliError, *USER_ERRORS) as err:
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


if __name__ == "__main__":
    sys.exit(main())
