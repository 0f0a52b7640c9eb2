"""`python -m engine COMMAND …`: inspect, train, runs, sweep, bench. Each lives in engine/cli_<command>.py."""
from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = ("inspect", "train", "runs", "sweep")  # modules that are missing are simply not offered


class CliError(Exception):
    """A bad argument: printed as one line on stderr, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m engine", description="Backprop Lab from the command line.")
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
    except (CliError, ValueError, KeyError, OSError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
        print(f"error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
