"""Rows in and out of the store. In: a logged row's metrics as (key, float or None) pairs, every key but the row's
coordinates (step, epoch, layer, …); numbers of any kind (tensors, numpy scalars, bools) become floats, None and NaN
are stored as NULL, text is refused in one line. Out: the runs table as a DataFrame (UTC datetimes, JSON parsed)."""
from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import pandas as pd

RUN_COLUMNS = ["run_id", "name", "created", "finished", "heartbeat", "duration", "status", "device",
               "host", "pid", "sweep_id", "message", "config", "summary", "owner"]
TIME_COLUMNS = ["created", "finished", "heartbeat"]


def runs_frame(rows: list[tuple]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=RUN_COLUMNS)
    for col in TIME_COLUMNS:
        df[col] = pd.to_datetime(df[col].astype("float64"), unit="s", utc=True)
    df["duration"] = df["duration"].astype("float64")
    df["pid"] = df["pid"].astype("int64")
    df["config"] = [json.loads(c) for c in df["config"]]
    # a NULL summary (run not finished) may come back as NaN, not None, in a pandas string column
    df["summary"] = [json.loads(s) if isinstance(s, str) else {} for s in df["summary"]]
    df["owner"] = pd.Series([o if isinstance(o, str) else None for o in df["owner"]], index=df.index, dtype=object)
    return df


def metric_pairs(row: dict, fixed: tuple[str, ...]) -> Iterator[tuple[str, float | None]]:
    """The metric (key, value) pairs of a row: every key except the fixed coordinates."""
    for key, value in row.items():
        if key not in fixed:
            yield str(key), number(key, value)


def number(key: str, value: Any) -> float | None:
    """A metric as float (tensors, numpy scalars, bools too); None and NaN are stored as NULL."""
    if value is None:
        return None
    if isinstance(value, str | bytes):
        raise ValueError(f"metric {key!r} must be a number, got the text {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError) as e:
        raise ValueError(f"metric {key!r} must be a number, got {type(value).__name__}") from e
    return None if math.isnan(number) else number
