"""Operator settings that bound the work one server does for its visitors, read from the environment.

| variable                           | default | what it bounds                                            |
|------------------------------------|---------|-----------------------------------------------------------|
| BACKPROP_LAB_MAX_JOBS              | 2       | trainings and sweeps running at once on the whole server  |
| BACKPROP_LAB_MAX_JOBS_PER_SESSION  | 1       | … of them started from one browser session (tab)          |
| BACKPROP_LAB_MAX_QUEUED            | 16      | jobs waiting for a slot; beyond that a start is refused   |
| BACKPROP_LAB_SESSION_GRACE_S       | 60      | seconds a session may be gone before its jobs are stopped |

The defaults suit a 2-core machine: two trainings already use both cores.
"""
from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass

PREFIX = "BACKPROP_LAB_"


class LimitsError(ValueError):
    """An operator setting is not a usable number; the message names the variable."""


@dataclass(frozen=True)
class Limits:
    max_jobs: int = 2  # running at once, server-wide
    max_jobs_per_session: int = 1  # running at once, per browser session
    max_queued: int = 16  # waiting for a slot, server-wide
    session_grace_s: float = 60.0  # a closed tab may come back (reload, flaky Wi-Fi) within this

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Limits:
        env = os.environ if env is None else env
        d = cls()
        return cls(max_jobs=_int(env, "MAX_JOBS", d.max_jobs, 1),
                   max_jobs_per_session=_int(env, "MAX_JOBS_PER_SESSION", d.max_jobs_per_session, 1),
                   max_queued=_int(env, "MAX_QUEUED", d.max_queued, 0),
                   session_grace_s=_float(env, "SESSION_GRACE_S", d.session_grace_s))


def _int(env: Mapping[str, str], name: str, default: int, low: int) -> int:
    text = env.get(PREFIX + name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise LimitsError(f"{PREFIX}{name}={text[:40]!r} is not a whole number; use e.g. {default}") from None
    if not low <= value <= 10_000:
        raise LimitsError(f"{PREFIX}{name}={value} is out of range; use {low}–10000")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(PREFIX + name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise LimitsError(f"{PREFIX}{name}={text[:40]!r} is not a number of seconds; use e.g. {default:g}") from None
    if not (math.isfinite(value) and 0 <= value <= 86_400):
        raise LimitsError(f"{PREFIX}{name}={text[:40]} is out of range; use 0–86400 seconds")
    return value
