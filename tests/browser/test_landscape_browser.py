"""The loss-landscape section of Compare in a real browser: two moons runs (sgd with momentum, adam) from one
initial weights; computing draws the contour with both paths, their start and end marks, and the slices."""
from __future__ import annotations

import pytest

from engine.store.runs import RunStore
from engine.sweep.executors import expand_grid, run_sweep
from tests.browser.helpers import sidebar_link

pytestmark = pytest.mark.browser

CONTOUR = ".st-key-landscape_contour"


@pytest.fixture(scope="module")
def two_runs(app_home):
    base = {"dataset": "moons", "n_samples": 200, "layers": "8:relu,8:relu,2:identity", "epochs": 3,
            "batch_size": 16, "momentum": 0.9}
    result = run_sweep(expand_grid(base, {"optimizer": ["sgd", "adam"], "lr": [0.05]}),
                       RunStore(app_home / "runs.sqlite"))
    assert [p.status for p in result.points] == ["finished"] * 2
    return result


def test_landscape_of_two_runs(app_server, browser_page, two_runs, artifacts):
    page = browser_page
    page.goto(app_server + "/")
    sidebar_link(page, "Compare").wait_for(timeout=60_000)
    page.goto(app_server + "/compare")
    page.get_by_text("Loss landscape: where each optimizer went").wait_for(timeout=90_000)
    go = page.get_by_role("button", name="Compute the landscape")
    go.wait_for(timeout=90_000)
    go.scroll_into_view_if_needed()
    go.click()
    svg = page.locator(f"{CONTOUR} .main-svg").first
    svg.wait_for(timeout=120_000)
    svg.scroll_into_view_if_needed()
    page.locator(f"{CONTOUR} g.contourlayer").first.wait_for()
    # each run: its path, a start mark and an end mark (three scatter traces), drawn over the contour
    assert page.locator(f"{CONTOUR} g.scatterlayer g.trace").count() == 6
    legend = page.locator(f"{CONTOUR} g.legend").text_content()
    assert "sgd" in legend and "adam" in legend
    page.locator(".st-key-landscape_slices .main-svg").first.wait_for()
    page.locator(CONTOUR).screenshot(path=str(artifacts / "landscape-compare.png"))
    for key in ("landscape_error", "landscape_slices"):
        page.locator(f".st-key-{key}").scroll_into_view_if_needed()
        page.locator(f".st-key-{key}").screenshot(path=str(artifacts / f"{key.replace('_', '-')}.png"))
    assert page.get_by_test_id("stException").count() == 0
