"""The step-through in a real browser: a link with ?step= opens the Inspector's diagram at that step, Next and
Previous move it (and the address), Play walks on by itself, and a screenshot of a forward, the loss and a
backward frame is written to test-artifacts/ for people to look at (copies are in docs/)."""
from __future__ import annotations

import re

import pytest

from engine.inspector.presets import preset
from engine.inspector.share import encode_spec

pytestmark = pytest.mark.browser

PLOTLY = '[data-testid="stPlotlyChart"]'


def _heading(page) -> str:
    """The line above the diagram: 'Step k of n · phase · what it computes'."""
    return page.get_by_test_id("stMarkdownContainer").filter(has_text=re.compile(r"^Step \d+ of \d+")).first \
        .inner_text()


def _wait_for(page, text: str) -> None:
    page.get_by_text(text, exact=False).first.wait_for(timeout=60_000)
    page.wait_for_timeout(1200)  # the chart and the LaTeX arrive after the heading


def test_clicking_through_the_two_layer_network(app_server, browser_page, artifacts):
    page = browser_page
    page.set_viewport_size({"width": 1400, "height": 2100})  # the diagram and the equations under it in one shot
    page.goto(f"{app_server}/inspector?spec={encode_spec(preset('two-layer'))}&step=2")
    _wait_for(page, "Step 2 of 15")
    assert page.get_by_test_id("stException").count() == 0
    page.locator(PLOTLY).first.wait_for(timeout=60_000)
    page.wait_for_timeout(1500)
    page.screenshot(path=str(artifacts / "stepper-forward.png"), full_page=True)
    for _ in range(4):
        page.get_by_role("button", name="Next ▶").click()
        page.wait_for_timeout(600)
    _wait_for(page, "Step 6 of 15")
    assert "the loss" in _heading(page) and "step=6" in page.url
    page.screenshot(path=str(artifacts / "stepper-loss.png"), full_page=True)
    for _ in range(7):
        page.get_by_role("button", name="Next ▶").click()
        page.wait_for_timeout(600)
    _wait_for(page, "Step 13 of 15")
    assert "∂L/∂W1" in _heading(page)
    page.screenshot(path=str(artifacts / "stepper-backward.png"), full_page=True)
    page.get_by_role("button", name="◀ Previous").click()
    _wait_for(page, "Step 12 of 15")
    assert "step=12" in page.url
    page.get_by_role("slider").first.press("End")  # the speed slider's last stop: fast
    page.wait_for_timeout(1500)
    page.get_by_role("button", name="▶ Play").click()
    _wait_for(page, "Step 15 of 15")  # 0.7 s a step: it walks to the end, then stops by itself
    page.wait_for_timeout(2500)
    assert "Step 15 of 15" in _heading(page) and page.get_by_role("button", name="▶ Play").count() == 1
    assert page.get_by_test_id("stException").count() == 0


def test_a_batchnorm_backward_step_draws(app_server, browser_page, artifacts):
    """δ of the BatchNorm layer, linked directly: the kind's own equation and its numbers at the selected element."""
    page = browser_page
    page.set_viewport_size({"width": 1400, "height": 2100})
    page.goto(f"{app_server}/inspector?spec={encode_spec(preset('batchnorm'))}&step=14")
    _wait_for(page, "Step 14 of 21")
    page.locator(PLOTLY).first.wait_for(timeout=60_000)
    page.wait_for_timeout(1500)
    assert "δ2" in _heading(page) and page.get_by_test_id("stException").count() == 0
    page.screenshot(path=str(artifacts / "stepper-batchnorm.png"), full_page=True)
