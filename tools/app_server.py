"""Serve the app as a visitor gets it — `streamlit run app.py` on a free local port — for the browser tests
(tests/browser/conftest.py) and the browser benchmark (bench/rows_browser.py)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT = 90  # seconds for `streamlit run` to answer /_stcore/health on a busy 2-core machine


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, log: Path, timeout: float = START_TIMEOUT) -> None:
    """Return once the server answers /_stcore/health; RuntimeError (with the log's tail) if it exits or stalls."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"streamlit did not answer {url}/_stcore/health in {timeout:.0f}s:\n{log.read_text()[-3000:]}")


@contextmanager
def serving(home: Path, env: dict[str, str] | None = None) -> Iterator[tuple[str, subprocess.Popen]]:
    """`streamlit run app.py` with BACKPROP_LAB_HOME=home (+ env), its log in home/streamlit.log; yields (the base
    URL, the server's process) once healthy and stops the server afterwards."""
    port = free_port()
    full_env = {**os.environ, "BACKPROP_LAB_HOME": str(home), "BACKPROP_LAB_STORE": "", **(env or {})}
    log = home / "streamlit.log"
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), "--server.headless",
           "true", "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
           "--server.fileWatcherType", "none"]
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=full_env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc, log)
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def served(home: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """serving(), the base URL only."""
    with serving(home, env) as (url, _):
        yield url
