"""The Compare page's loss-landscape section headless (AppTest): two stored runs drawn on their plane in the
colours they have in the overlays, the progress of the computation, and the refusal of mismatched runs."""
from __future__ import annotations

from engine.store.runs import RunStore
from engine.sweep.executors import expand_grid, run_sweep
from tests.test_page_compare import OWNER, TINY, _figures, _run, _sweep, home  # noqa: F401  (home: a fixture)


def _title(fig: dict) -> str:
    return fig.get("layout", {}).get("title", {}).get("text", "")


def test_two_runs_landscape_with_paths_in_the_runs_colours(home):  # noqa: F811
    _sweep(home)  # sgd and adam: one config apart, so they share the initial weights
    at = _run()
    assert at.multiselect(key="landscape_runs").value and len(at.multiselect(key="landscape_runs").value) == 2
    at = at.slider(key="landscape_grid").set_value(9).run()
    at = at.button(key="landscape_go").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    figs = _figures(at)
    contour = next(f for f in figs if "plane through" in _title(f))
    assert "endpoints plane through the shared initial weights" in _title(contour)
    assert len(contour["data"][0]["x"]) == 9 and len(contour["data"][0]["z"]) == 9
    paths = {t["meta"]: t for t in contour["data"] if t.get("mode") == "lines+markers"}
    runs = RunStore(home / "runs.sqlite").runs()["run_id"].tolist()
    assert sorted(paths) == sorted(runs)
    overlay = figs[0]  # the overlay of val_loss: its colours are the runs' colours on the page
    colour = {t["meta"]: t["line"]["color"] for t in overlay["data"]}
    assert {rid: t["line"]["color"] for rid, t in paths.items()} == colour
    assert any("How far each path is from the plane" in _title(f) for f in figs)
    slices = next(f for f in figs if "1-D slices" in _title(f))
    assert len(slices["data"]) == 3  # init → final of each run, final ↔ final
    assert any("training rows" in c.value for c in at.caption)


def test_runs_of_different_networks_are_refused_in_one_line(home):  # noqa: F811
    store = RunStore(home / "runs.sqlite", owner=OWNER)
    run_sweep(expand_grid(TINY, {"layers": ["8:relu,2:identity", "4:relu,2:identity"]}), store)
    at = _run()
    at = at.button(key="landscape_go").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("No landscape" in e.value and "differ in architecture" in e.value for e in at.error)
    assert not any("plane through" in _title(f) for f in _figures(at))
