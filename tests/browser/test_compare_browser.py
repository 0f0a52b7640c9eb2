"""The Compare page in a real browser: HiPlot and the Plotly overlay render, and brushing an axis in HiPlot
narrows the runs the overlay draws (the brush flows back from the component into the page)."""
from __future__ import annotations

import re

import pytest

from engine.store.runs import RunStore
from engine.sweep.executors import expand_grid, run_sweep
from tests.browser.helpers import sidebar_link

pytestmark = pytest.mark.browser

HIPLOT = 'iframe[title="hiplot.streamlit_helpers.hiplot"]'
OVERLAY_TRACES = ".st-key-overlay g.scatterlayer g.trace"


@pytest.fixture(scope="module")
def four_runs(app_home):
    """sgd and adam × lr 0.01 and 0.1 on a tiny moons set, stored where the served app looks."""
    base = {"dataset": "moons", "n_samples": 120, "layers": "8:relu,2:identity", "epochs": 3, "batch_size": 16}
    configs = expand_grid(base, {"optimizer": ["sgd", "adam"], "lr": [0.01, 0.1]})
    result = run_sweep(configs, RunStore(app_home / "runs.sqlite"))
    assert [p.status for p in result.points] == ["finished"] * 4
    return result


def _selected_count(page) -> int:
    text = page.get_by_text(re.compile(r"\d+ runs selected")).first.inner_text()
    return int(re.search(r"(\d+) runs selected", text).group(1))


def _axis_overlay(frame, name: str) -> dict:
    """The brush area (d3 rect.overlay) of the HiPlot axis titled `name`, in the iframe's coordinates."""
    return frame.evaluate("""(name) => {
        for (const g of document.querySelectorAll('g.dimension')) {
            const titled = Array.from(g.querySelectorAll('*')).some(e => Array.from(e.childNodes)
                .some(n => n.nodeType === Node.TEXT_NODE && n.textContent.trim() === name));
            const rect = g.querySelector('rect.overlay');
            if (titled && rect) {
                const b = rect.getBoundingClientRect();
                return {x: b.x, y: b.y, width: b.width, height: b.height};
            }
        }
        return null;
    }""", name)


def _open_compare(page, base_url: str) -> None:
    # The app's entry first, until st.navigation has registered the pages: on a fresh server the first session
    # that opens /compare directly runs pages/compare.py alone (Streamlit's legacy pages/ folder mode).
    page.goto(base_url + "/")
    sidebar_link(page, "Compare").wait_for(timeout=60_000)
    page.goto(base_url + "/compare")
    page.get_by_text(re.compile(r"\d+ runs selected")).first.wait_for(timeout=60_000)
    page.locator(OVERLAY_TRACES).first.wait_for()


def test_brushing_hiplot_narrows_the_overlay(app_server, browser_page, four_runs, artifacts):
    page = browser_page
    _open_compare(page, app_server)
    assert page.get_by_test_id("stException").count() == 0
    assert _selected_count(page) == 4
    assert page.locator(OVERLAY_TRACES).count() == 4
    page.screenshot(path=str(artifacts / "compare-page.png"), full_page=True)

    iframe = page.locator(HIPLOT)
    iframe.evaluate("e => e.scrollIntoView({block: 'start'})")
    frame = iframe.element_handle().content_frame()
    frame.locator("g.dimension rect.overlay").first.wait_for()
    page.wait_for_timeout(500)  # HiPlot animates its axes in
    page.screenshot(path=str(artifacts / "compare-hiplot-before-brush.png"))

    # brush the top 30% of the log-scaled lr axis — lr = 0.1 only, 2 of the 4 runs. Drag upwards past the
    # axis end: d3 clamps the brush to the axis, so the value sitting exactly on the top end is inside it.
    box, axis = iframe.bounding_box(), _axis_overlay(frame, "lr")
    assert axis is not None, "HiPlot drew no lr axis"
    x = box["x"] + axis["x"] + axis["width"] / 2
    top = box["y"] + axis["y"]
    page.mouse.move(x, top + axis["height"] * 0.3)
    page.mouse.down()
    page.mouse.move(x, top + axis["height"] * 0.1, steps=5)
    page.mouse.move(x, top - 20, steps=5)
    page.mouse.up()
    page.wait_for_function("""() => Array.from(document.querySelectorAll('p, div'))
        .some(e => /^2 runs selected/.test(e.innerText || ''))""", timeout=30_000)
    page.screenshot(path=str(artifacts / "compare-hiplot-brushed.png"))

    page.wait_for_function(f"() => document.querySelectorAll('{OVERLAY_TRACES}').length === 2", timeout=30_000)
    assert page.get_by_test_id("stException").count() == 0
    legend = page.locator(".st-key-overlay g.legend").text_content()
    assert "lr=0.1" in legend and "lr=0.01" not in legend
    page.locator(".st-key-overlay").scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "compare-overlay-after-brush.png"))
