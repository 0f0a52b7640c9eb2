"""Every page in a real browser (streamlit run + headless Chromium): it loads through app.py's navigation, shows
no exception, draws its Plotly charts (and the Inspector its graphviz graph); a screenshot of each is written to
test-artifacts/ for people to look at."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.helpers import sidebar_nav

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
ALL_NAV = {"home": "Home", "inspector": "Inspector", "train": "Train", "compare": "Compare",
           "optimizers": "Optimizers", "activations": "Activations", "lessons": "Lessons"}
NAV = [title for name, title in ALL_NAV.items() if (ROOT / "pages" / f"{name}.py").exists()]  # app.py's order
PLOTLY = '[data-testid="stPlotlyChart"]'
PAGES = [  # (url path, a text the page shows when it has run, Plotly charts at least)
    ("", "three independent ways", 0),
    ("inspector", "gradients agree", 1),
    ("train", "Start training", 0),
    ("compare", "No runs stored yet", 0),
    ("optimizers", "Cost per iteration", 2),
    ("activations", "max |φ − torch|", 1),
    ("lessons", "Step 1 of 4", 0),
]


def _settled(page, text: str) -> None:
    page.get_by_text(text, exact=False).first.wait_for(timeout=90_000)
    page.wait_for_timeout(1500)  # let the last deltas (charts) arrive


def test_a_deep_link_on_a_fresh_server_goes_through_the_navigation(app_server, browser_page, artifacts):
    """The first request to a just-started server opens /optimizers directly: Streamlit's legacy pages/ mode
    would run the script without app.py (file names in the sidebar, no device); ensure_navigation reroutes."""
    page = browser_page
    page.goto(f"{app_server}/optimizers")
    _settled(page, "Cost per iteration")
    assert sidebar_nav(page) == NAV
    assert page.get_by_text("Device:").count() == 1
    page.screenshot(path=str(artifacts / "browser-deep-link-optimizers.png"))


PAGES = [p for p in PAGES if (ROOT / "pages" / f"{p[0] or 'home'}.py").exists()]


@pytest.mark.parametrize("path,marker,charts", PAGES, ids=[p[0] or "home" for p in PAGES])
def test_page_renders_without_exception(app_server, browser_page, artifacts, path, marker, charts):
    page = browser_page
    page.goto(f"{app_server}/{path}")
    _settled(page, marker)
    assert page.get_by_test_id("stException").count() == 0
    assert sidebar_nav(page) == NAV
    if charts:
        page.locator(PLOTLY).first.wait_for(timeout=60_000)
    assert page.locator(PLOTLY).count() >= charts
    page.screenshot(path=str(artifacts / f"browser-{path or 'home'}.png"), full_page=True)


def test_inspector_graph_tab_renders_the_autograd_graph(app_server, browser_page, artifacts):
    page = browser_page
    page.goto(f"{app_server}/inspector")
    _settled(page, "gradients agree")
    page.get_by_role("tab", name="Graph").click()
    page.get_by_test_id("stGraphVizChart").first.wait_for(timeout=60_000)
    page.wait_for_timeout(1000)
    assert page.get_by_test_id("stException").count() == 0
    assert page.get_by_test_id("stGraphVizChart").locator("svg").count() >= 1, "graphviz drew no SVG"
    page.screenshot(path=str(artifacts / "browser-inspector-graph.png"), full_page=True)


def test_inspector_line_preset_is_one_click_away(app_server, browser_page, artifacts):
    """ŷ = 1·2 + 1 = 3, L = (3 − 10)² = 49: the summary line of the worked example after one click."""
    page = browser_page
    page.goto(f"{app_server}/inspector")
    _settled(page, "gradients agree")
    page.get_by_role("button", name="line", exact=True).click()
    page.get_by_text("loss mse = 49", exact=False).first.wait_for(timeout=60_000)
    page.get_by_role("tab", name="Backward").click()
    page.wait_for_timeout(1500)
    assert page.get_by_test_id("stException").count() == 0
    page.screenshot(path=str(artifacts / "browser-inspector-line-backward.png"), full_page=True)


def test_the_optimizers_2d_tab_draws_its_contour_when_opened(app_server, browser_page, artifacts):
    """The Optimizers tabs are lazy (the hidden 2-D contour is not sent with the page): a click runs and draws it."""
    page = browser_page
    page.goto(f"{app_server}/optimizers")
    _settled(page, "Cost per iteration")
    page.get_by_role("tab", name="2-D: loss surfaces").click()
    _settled(page, "paths up to step 500")
    charts = page.locator(f'[data-testid="stTabs"] {PLOTLY}')
    assert charts.count() == 2 and page.get_by_test_id("stException").count() == 0
    page.screenshot(path=str(artifacts / "browser-optimizers-2d.png"), full_page=True)


def test_the_inspector_builder_draws_its_form_when_opened(app_server, browser_page, artifacts):
    """The builder is lazy (its ~40 widgets are not sent while it is closed): a click opens and draws the form."""
    page = browser_page
    page.goto(f"{app_server}/inspector")
    _settled(page, "gradients agree")
    assert page.get_by_text("Input size n₀").count() == 0
    page.get_by_text("Build or edit the network").click()
    page.get_by_text("Input size n₀").first.wait_for(timeout=60_000)
    page.wait_for_timeout(1500)  # the select boxes fill in after the first paint
    assert page.get_by_test_id("stException").count() == 0
    page.screenshot(path=str(artifacts / "browser-inspector-builder-open.png"))
