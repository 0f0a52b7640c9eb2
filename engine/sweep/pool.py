"""A warm, bounded pool of sweep worker processes (`python -m engine.sweep.worker`), one pool per process.

Why not concurrent.futures.ProcessPoolExecutor: its spawned workers re-run the parent's __main__ *file* to
unpickle tasks. Under `streamlit run` that file is app.py (or a page script after an in-process AppTest), so
each worker imported Streamlit and ran the app in bare mode — and a script that cannot run there (AppTest's
temporary script) killed the worker: "a process in the process pool was terminated abruptly". Our workers'
__main__ is engine.sweep.worker, nothing else.

Workers stay up between sweeps, so a second sweep does not pay the interpreter + torch start-up again. At most
`cap` exist; a sweep asking for more gets what is free, or waits for one. A worker idle for `idle_s` (no sweep
leased it) is stopped — each holds torch and its memory — and the next sweep starts a new one. They stop at exit
(atexit), and on their own when their stdin closes (the pool stopped them, or the parent died).
"""
from __future__ import annotations

import atexit
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from engine.settings import PROJECT_ROOT

DEFAULT_CAP = max(2, os.cpu_count() or 1)  # more workers than cores only slows each one down
START_TIMEOUT_S = 120  # interpreter + torch import on a loaded 2-core machine takes ~5–10 s
IDLE_S = 600.0  # a worker no sweep leased for this long is stopped (a new one costs those ~5–10 s again)


class WorkerDied(RuntimeError):
    """A worker process ended while it owed an answer; the message says how (signal, exit status)."""


class Worker:
    """One worker process and its pipes: tasks go to its stdin, pickled answers come from its stdout."""

    def __init__(self):
        path = os.pathsep.join(p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")) if p)
        self.proc = subprocess.Popen([sys.executable, "-m", "engine.sweep.worker"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": path})
        self.busy = False  # a task was sent and its answer not read yet
        self.idle_since = time.monotonic()  # when it was last given back to the pool

    def fileno(self) -> int:
        """multiprocessing.connection.wait() waits on this: readable once the answer is written (or at EOF)."""
        return self.proc.stdout.fileno()

    def wait_ready(self) -> None:
        """Block until the worker has imported the engine (it answers "ready")."""
        self.busy = True
        if self._load() != "ready":
            raise WorkerDied("the worker process started wrongly (no 'ready')")
        self.busy = False

    def send(self, fn: Callable, *args) -> None:
        """Hand the worker fn(*args); fn must be importable by name (a module-level function of the engine)."""
        try:
            pickle.dump((fn, args), self.proc.stdin)
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise WorkerDied(self.how_it_ended()) from None
        self.busy = True

    def receive(self):
        """The answer to the task sent: its value; RuntimeError if the task raised, WorkerDied if the worker did."""
        kind, value = self._load()
        self.busy = False
        if kind == "error":
            raise RuntimeError(value)
        return value

    def _load(self):
        try:
            return pickle.load(self.proc.stdout)
        except (EOFError, OSError, pickle.UnpicklingError):
            raise WorkerDied(self.how_it_ended()) from None

    def alive(self) -> bool:
        return self.proc.poll() is None

    def how_it_ended(self) -> str:
        """"the worker process (pid 123) was killed by SIGKILL (out of memory?)" or "… exited with status 1"."""
        try:
            code = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            return f"the worker process (pid {self.proc.pid}) stopped answering"
        what = f"the worker process (pid {self.proc.pid})"
        if code < 0:
            name = signal.Signals(-code).name
            return f"{what} was killed by {name}" + (" (out of memory?)" if name == "SIGKILL" else "")
        return f"{what} exited with status {code}"

    def stop(self, timeout: float = 5.0) -> None:
        """Close its stdin (it exits after its current task); kill it if it is still there after timeout."""
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=timeout)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()


class WorkerPool:
    """Up to `cap` workers, leased to sweeps and kept warm in between for up to idle_s. Thread-safe."""

    def __init__(self, cap: int = DEFAULT_CAP, idle_s: float = IDLE_S):
        self.cap, self.idle_s = cap, idle_s
        self._idle: list[Worker] = []
        self._count = 0  # idle + leased + starting
        self._cond = threading.Condition()
        self._watcher: threading.Thread | None = None  # stops idle workers; runs while there are any
        self._returned = threading.Event()  # wakes the watcher: a worker came back

    @contextmanager
    def lease(self, n: int, phase: Callable[[str], None] = lambda _text: None) -> Iterator[list[Worker]]:
        """Between 1 and min(n, cap) ready workers (waiting while all are leased); phase is told when new ones
        start. On leaving, healthy idle workers return to the pool; dead ones, or ones still owing an answer,
        are stopped."""
        crew = self._take(n, phase)
        try:
            yield crew
        finally:
            self._give_back(crew)

    def _take(self, n: int, phase: Callable[[str], None]) -> list[Worker]:
        with self._cond:
            died = [w for w in self._idle if not w.alive()]  # killed while idle (out of memory, …)
            self._idle = [w for w in self._idle if w not in died]
            self._count -= len(died)
            for worker in died:
                worker.stop(timeout=1.0)  # already gone: closes its pipes
            while not self._idle and self._count >= self.cap:
                self._cond.wait()
            crew = [self._idle.pop() for _ in range(min(n, len(self._idle)))]
            new = max(0, min(n - len(crew), self.cap - self._count))
            self._count += new
        if new:
            phase(f"starting {new} worker process{'es' if new > 1 else ''} (kept for later sweeps)")
            crew += self._start(new)
        if not crew:
            raise WorkerDied("no worker process could start; see the server's log")
        return crew

    def _start(self, n: int) -> list[Worker]:
        started = [Worker() for _ in range(n)]  # they import torch in parallel
        ready = []
        for worker in started:
            try:
                worker.wait_ready()
                ready.append(worker)
            except WorkerDied:
                self._discard(worker)
        return ready

    def _give_back(self, crew: list[Worker]) -> None:
        for worker in crew:
            if worker.busy or not worker.alive():  # an unread answer would reach the next sweep
                self._discard(worker)
            else:
                worker.idle_since = time.monotonic()
                with self._cond:
                    self._idle.append(worker)
                    self._cond.notify()
                    if self._watcher is None:
                        self._watcher = threading.Thread(target=self._watch_idle, name="sweep-pool-idle",
                                                         daemon=True)
                        self._watcher.start()
                self._returned.set()

    def _watch_idle(self) -> None:
        """The watcher thread: stop the workers idle for idle_s, then sleep until the next would be due (or a
        worker comes back); end when none is idle (the next give-back starts a new watcher)."""
        while True:
            now = time.monotonic()
            with self._cond:
                expired = [w for w in self._idle if now - w.idle_since >= self.idle_s]
                self._idle = [w for w in self._idle if w not in expired]
                due = [w.idle_since + self.idle_s - now for w in self._idle]
                if not due:
                    self._watcher = None
            for worker in expired:  # out of _idle under the lock: no sweep can lease it any more
                self._discard(worker, timeout=10.0)  # nothing to finish: it exits at EOF (slowly when loaded)
            if not due:
                return
            self._returned.wait(timeout=min(due))
            self._returned.clear()

    def _discard(self, worker: Worker, timeout: float = 1.0) -> None:
        worker.stop(timeout=timeout)
        with self._cond:
            self._count -= 1
            self._cond.notify()

    def size(self) -> int:
        """Workers alive or starting (idle + leased)."""
        with self._cond:
            return self._count

    def shutdown(self) -> None:
        """Stop the idle workers (leased ones stop when given back)."""
        with self._cond:
            idle, self._idle = self._idle, []
        for worker in idle:
            self._discard(worker)


_POOL: WorkerPool | None = None
_POOL_LOCK = threading.Lock()


def shared_pool() -> WorkerPool:
    """This process's pool, made on first use and shut down at exit."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = WorkerPool()
            atexit.register(_POOL.shutdown)
        return _POOL
