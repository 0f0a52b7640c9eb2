"""The Inspector shows a progress bar while long finite differences run, and the trace tells it how far they are."""
from __future__ import annotations

from engine.inspector.spec import LayerSpec, NetworkSpec
from engine.inspector.trace import trace
from ui import inspector_views

SPEC = NetworkSpec(6, [LayerSpec(5, "relu"), LayerSpec(3, "identity")], loss="cross_entropy", batch=4, seed=1)


def test_trace_reports_the_fraction_of_finite_differences_done():
    seen = []
    t = trace(SPEC, progress=seen.append)
    assert t.numerical_note is None and len(seen) >= 3
    assert seen == sorted(seen) and 0 < seen[0] < 1 and seen[-1] == 1.0


class FakeBar:
    def __init__(self, value, text):
        self.values, self.texts, self.emptied = [value], [text], False

    def progress(self, value, text=""):
        self.values.append(value)
        self.texts.append(text)

    def empty(self):
        self.emptied = True


def test_the_inspector_shows_a_bar_for_long_finite_differences_and_removes_it(monkeypatch):
    bars = []
    monkeypatch.setattr(inspector_views.st, "progress", lambda value, text="": bars.append(FakeBar(value, text))
                        or bars[-1])
    monkeypatch.setattr(inspector_views, "PROGRESS_WORK", 1)  # this small net counts as long
    t = inspector_views._trace_with_progress(SPEC)
    assert t.agree and len(bars) == 1
    bar = bars[0]
    assert bar.values[0] == 0.0 and bar.values[-1] == 1.0 and bar.emptied
    assert "perturbed copies of a row" in bar.texts[-1] and "100%" in bar.texts[-1]
    monkeypatch.setattr(inspector_views, "PROGRESS_WORK", 10**12)  # short: no bar
    inspector_views._trace_with_progress(SPEC)
    assert len(bars) == 1
