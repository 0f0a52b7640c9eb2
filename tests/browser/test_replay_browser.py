"""The replay view in a real browser: Compare shows a moons run at step t (per-unit maps, arrows, health
heatmaps) and its branch form (submitting it is tested with AppTest in tests/test_page_compare.py)."""
from __future__ import annotations

import pytest

from engine.store.runs import RunStore
from engine.sweep.executors import expand_grid, run_sweep
from tests.browser.helpers import sidebar_link

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def one_run(app_home):
    base = {"dataset": "moons", "n_samples": 200, "layers": "6:tanh,4:relu,2:identity", "epochs": 3, "batch_size": 16}
    result = run_sweep(expand_grid(base, {"optimizer": ["adam"], "lr": [0.02]}), RunStore(app_home / "runs.sqlite"))
    assert [p.status for p in result.points] == ["finished"]
    return result


def test_replay_view_and_branch(app_server, browser_page, one_run, artifacts):
    page = browser_page
    page.goto(app_server + "/")
    sidebar_link(page, "Compare").wait_for(timeout=60_000)
    page.goto(app_server + "/compare")
    page.get_by_text("Replay a run step by step, or branch it").wait_for(timeout=90_000)
    maps = page.locator(".st-key-replay_maps .main-svg").first
    maps.wait_for(timeout=60_000)
    maps.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "replay-moons-unit-maps.png"), full_page=True)
    page.get_by_text("Gradient health").first.wait_for()
    page.get_by_role("button", name="Branch").wait_for()  # the form is there; AppTest submits it
