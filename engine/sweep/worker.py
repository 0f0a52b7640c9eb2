"""`python -m engine.sweep.worker`: one sweep worker process (engine.sweep.pool starts and feeds it).

Its __main__ is this module, so it imports only the engine (torch, numpy, SQLite) — never the Streamlit script
that started the server. Protocol, pickles over its own pipes: it answers "ready" once imported, then for each
task (fn, args) read from stdin it answers ("ok", fn(*args)) or ("error", one line). EOF on stdin: it exits.
"""
from __future__ import annotations

import os
import pickle
import signal
import sys


def loaded_modules() -> list[str]:
    """The modules this process has imported (a test checks that Streamlit is not among them)."""
    return sorted(sys.modules)


def serve(tasks, answers) -> None:
    """Answer tasks until tasks reaches EOF."""
    import engine.sweep.executors  # noqa: F401  (torch and the training code, imported before "ready")
    _send(answers, "ready")
    while True:
        try:
            fn, args = pickle.load(tasks)
        except EOFError:  # the pool closed our stdin (or its process died): nothing more to do
            return
        try:
            answer = ("ok", fn(*args))
        except Exception as err:  # a bug in a task: the pool reports it for that point, the worker lives on
            answer = ("error", f"{type(err).__name__}: {err}")
        _send(answers, answer)


def _send(answers, obj) -> None:
    pickle.dump(obj, answers)
    answers.flush()


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the server: it stops us by closing our stdin
    answers = os.fdopen(os.dup(1), "wb")  # the pool reads pickles from our stdout …
    os.dup2(2, 1)  # … so anything printed goes to stderr (the server's log), never into that channel
    serve(sys.stdin.buffer, answers)


if __name__ == "__main__":
    main()
