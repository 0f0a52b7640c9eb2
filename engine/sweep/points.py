"""What every executor shares: a bad request (SweepError), how one grid point ended (PointResult), and reading
a run's events into that result."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from engine.train.loop import Event
from engine.train.recorder import END_KINDS


class SweepError(ValueError):
    """A bad sweep request; the message says what to change."""


@dataclass
class PointResult:
    """How one grid point ended."""
    index: int
    name: str
    run_id: str | None = None
    status: str = "failed"  # finished | diverged | stopped | failed
    message: str = ""
    summary: dict = field(default_factory=dict)


def consume(events: Iterator[Event], index: int, name: str) -> PointResult:
    """Drain a recorded run's events (recorder.record: they are stored as they pass) into its PointResult."""
    point = PointResult(index, name)
    try:
        for ev in events:
            if ev.kind == "start":
                point.run_id = ev.data.get("run_id")
            elif ev.kind in END_KINDS:
                point.status, point.message = ev.kind, ev.data.get("message", "")
                point.summary.update(test_accuracy=ev.data.get("test_accuracy"), step=ev.data.get("step"))
            elif ev.kind == "epoch":
                point.summary.update(train_loss=ev.data["train_loss"], val_loss=ev.data.get("val_loss"),
                                     val_accuracy=ev.data.get("val_accuracy"))
    except Exception as err:  # the recorder already marked the stored run failed
        point.status, point.message = "failed", f"error: {err}"
    return point
