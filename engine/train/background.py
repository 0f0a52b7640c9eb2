"""Background jobs (trainings, sweeps) and the queue that caps how many run at once.

BackgroundJob is the thread/stop pattern both TrainingJob and SweepJob share: work on a daemon thread,
a stop event, thread-safe snapshots, and release() of big data once the work ends. start() runs a job at
once (the CLI, tests); a page submits it to a JobQueue instead, which

- runs at most `max_jobs` on the server and `max_jobs_per_session` per owner, first come first served
  (a job whose owner is at its cap waits without holding up other owners' jobs behind it);
- tells a waiting job its position (1 = next);
- stops the jobs of an owner whose `alive()` has said False for `session_grace_s` (a closed browser tab),
  and forgets its finished jobs then. The engine never asks Streamlit: the page passes `alive`.
"""
from __future__ import annotations

import ctypes
import itertools
import sys
import threading
import time
from collections.abc import Callable

from engine.train.limits import Limits, LimitsError

Alive = Callable[[], bool]
QUEUED = "queued"
TAB_CLOSED = "the browser tab closed"  # why the queue stops a gone session's jobs; the job's message says so


class QueueFull(ValueError):
    """The server's queue is full; the message says so and what to do."""


class BackgroundJob:
    """Subclasses implement _work() (runs on the thread), release() and _cancel(message)."""

    kind = "job"

    def __init__(self, *, owner: str | None = None, alive: Alive | None = None, slots: int = 1):
        self.owner, self.alive, self.slots = owner, alive, max(1, slots)
        self.stop_event = threading.Event()
        self._lock = threading.Lock()
        self.thread = threading.Thread(target=self._main, daemon=True, name=f"backprop-lab-{self.kind}")
        self.queue: JobQueue | None = None
        self.ended = threading.Event()  # set after release(): nothing of the job's data is held any more
        self.stop_reason: str | None = None  # set by stop(reason): why, in words, when not the user's Stop

    def start(self) -> BackgroundJob:
        """Run now, outside any queue."""
        self.thread.start()
        return self

    def stop(self, reason: str | None = None) -> None:
        """Ask the job to end; reason (e.g. TAB_CLOSED) replaces "by request" in its message."""
        if reason is not None and self.stop_reason is None:
            self.stop_reason = reason
        self.stop_event.set()
        if self.queue is not None:
            self.queue.cancel(self)

    @property
    def position(self) -> int | None:
        """1-based place in its queue while waiting; None once running (or never queued)."""
        return None if self.queue is None else self.queue.position(self)

    def _main(self) -> None:
        try:
            self._work()
        finally:
            self.release()
            _trim_heap()
            self.ended.set()
            if self.queue is not None:
                self.queue.finished(self)

    def _work(self) -> None:
        raise NotImplementedError

    def release(self) -> None:
        """Drop references to big data (datasets, models, tensors); keep what a page shows."""

    def _cancel(self, message: str) -> None:
        """Mark a job that never ran as stopped, with message."""


class JobQueue:
    """Caps running jobs per server and per owner; a FIFO of the rest. Thread-safe."""

    def __init__(self, limits: Limits | None = None, *, check_every: float = 5.0, clock=time.monotonic):
        self.limits = limits or Limits.from_env()
        self.jobs: dict[str, BackgroundJob] = {}  # every job submitted and not yet forgotten, by id
        self.check_every, self.clock = check_every, clock
        self._waiting: list[BackgroundJob] = []
        self._running: list[BackgroundJob] = []
        self._gone_since: dict[str, float] = {}  # owner → when alive() first said False
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._watcher: threading.Thread | None = None

    # ---- submit, run, finish ----
    def submit(self, job: BackgroundJob) -> str:
        """Register job and run it now or queue it; its id. QueueFull when max_queued are waiting."""
        with self._lock:
            if len(self._waiting) >= self.limits.max_queued and not self._can_run(job):
                raise QueueFull(f"the server is busy: {len(self._waiting)} runs are waiting already (the limit is "
                                f"{self.limits.max_queued}); try again in a few minutes")
            job.queue = self
            job_id = f"job-{next(self._ids)}-{id(job):x}"
            self.jobs[job_id] = job
            self._waiting.append(job)
            self._pump()
        self._watch()
        return job_id

    def _can_run(self, job: BackgroundJob) -> bool:
        used = sum(j.slots for j in self._running)
        mine = sum(1 for j in self._running if job.owner is not None and j.owner == job.owner)
        fits = used + job.slots <= self.limits.max_jobs or not self._running  # a wide job may run alone
        return fits and mine < self.limits.max_jobs_per_session

    def _pump(self) -> None:
        for job in list(self._waiting):
            if self._can_run(job):
                self._waiting.remove(job)
                self._running.append(job)
                job.thread.start()

    def finished(self, job: BackgroundJob) -> None:
        with self._lock:
            if job in self._running:
                self._running.remove(job)
            self._pump()

    def cancel(self, job: BackgroundJob) -> None:
        """Take a waiting job out of the queue (it ends as stopped); a running one just has its stop event set."""
        with self._lock:
            if job not in self._waiting:
                return
            self._waiting.remove(job)
        why = f"stopped: {job.stop_reason}" if job.stop_reason else "stopped"
        job._cancel(f"{why} before it started (it was waiting in the queue)")
        job.release()
        job.ended.set()

    def position(self, job: BackgroundJob) -> int | None:
        with self._lock:
            return self._waiting.index(job) + 1 if job in self._waiting else None

    @property
    def running(self) -> list[BackgroundJob]:
        with self._lock:
            return list(self._running)

    @property
    def waiting(self) -> list[BackgroundJob]:
        with self._lock:
            return list(self._waiting)

    # ---- sessions that went away ----
    def reap(self) -> list[BackgroundJob]:
        """Stop the jobs of owners gone for longer than the grace period and forget their finished jobs;
        returns the jobs it stopped. The watcher thread calls this every check_every seconds."""
        now, stopped = self.clock(), []
        with self._lock:
            jobs = dict(self.jobs)
        owners = {j.owner: j.alive for j in jobs.values() if j.owner is not None and j.alive is not None}
        for owner, alive in owners.items():
            if _is_alive(alive):
                self._gone_since.pop(owner, None)
                continue
            since = self._gone_since.setdefault(owner, now)
            if now - since < self.limits.session_grace_s:
                continue
            for job_id, job in jobs.items():
                if job.owner != owner:
                    continue
                if not job.ended.is_set():
                    job.stop(TAB_CLOSED)
                    stopped.append(job)
                else:
                    with self._lock:
                        self.jobs.pop(job_id, None)
        return stopped

    def _watch(self) -> None:
        if self.check_every <= 0:
            return
        with self._lock:
            if self._watcher is not None and self._watcher.is_alive():
                return
            self._watcher = threading.Thread(target=self._watch_loop, daemon=True, name="backprop-lab-reaper")
            self._watcher.start()

    def _watch_loop(self) -> None:
        while True:
            time.sleep(self.check_every)
            self.reap()


def _trim_heap() -> None:
    """Hand freed heap pages back to the OS (glibc keeps them otherwise: ~50 MB of RSS per MNIST run stayed
    after its tensors were freed). Best effort: nothing happens off glibc."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _is_alive(alive: Alive) -> bool:
    try:
        return bool(alive())
    except Exception:  # a broken check must not stop anyone's run
        return True


def _server_limits() -> Limits:
    try:
        return Limits.from_env()
    except LimitsError as err:  # a typo in the operator's setting: say so once, keep serving with the defaults
        print(f"backprop-lab: {err}; using the defaults", file=sys.stderr)
        return Limits()


QUEUE = JobQueue(_server_limits())  # the server's queue: lives as long as the process
