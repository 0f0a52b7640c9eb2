"""The Inspector in Chromium with the new kinds' presets: the diagram draws BatchNorm as a square normalisation
node, dropped units grey and a residual block's skip arc; the Math tab writes BatchNorm's backward element by
element. Screenshots go to test-artifacts/ (docs/img holds copies that were looked at, shown in the README)."""
from __future__ import annotations

from engine.inspector.presets import preset
from engine.inspector.share import encode_spec

PLOT = '[data-testid="stPlotlyChart"] .js-plotly-plot'


def _open_preset(page, app_server: str, name: str) -> None:
    page.goto(f"{app_server}/inspector")
    page.get_by_text("gradients agree", exact=False).first.wait_for(timeout=90_000)
    page.get_by_role("button", name=name, exact=True).click()
    page.get_by_text(f"{name}: ", exact=False).first.wait_for(timeout=60_000)  # the summary line names it
    page.locator(PLOT).first.wait_for(timeout=60_000)
    page.wait_for_timeout(2000)  # the rerun with the preset replaces the figure
    assert page.get_by_test_id("stException").count() == 0


def _traces(page) -> list[dict]:
    """The diagram's Plotly traces as the browser holds them (symbol, colours, hover text)."""
    return page.locator(PLOT).first.evaluate(
        "el => el.data.map(t => ({symbol: t.marker && t.marker.symbol, color: t.marker && t.marker.color, "
        "hover: t.hovertext, text: t.text}))")


def _flat(values) -> list:
    if isinstance(values, list):
        return [v for item in values for v in _flat(item)]
    return [values]


def test_batchnorm_diagram_and_math_tab(app_server, browser_page, artifacts):
    page = browser_page
    _open_preset(page, app_server, "batchnorm")
    assert "square" in _flat([t["symbol"] for t in _traces(page)]), "no normalisation node drawn"
    page.get_by_role("tab", name="Math").click()
    heading = page.get_by_text("One input gradient, term by term", exact=True)
    heading.wait_for(timeout=60_000)
    page.get_by_text("is entry [0,0] of ∂L/∂a1 in the Backward tab", exact=False).wait_for(timeout=60_000)
    page.wait_for_timeout(2000)  # KaTeX typesets after the text arrives
    assert page.get_by_test_id("stException").count() == 0
    page.set_viewport_size({"width": 1400, "height": 1300})  # the whole derivation in one view
    weight = page.get_by_text("One weight, term by term", exact=True)
    weight.evaluate("el => el.scrollIntoView({block: 'start'})")  # cross-entropy's 8-row sum: wrapped, not cut
    page.wait_for_timeout(1000)
    page.screenshot(path=str(artifacts / "browser-inspector-batchnorm-weight-terms.png"))
    heading.evaluate("el => el.scrollIntoView({block: 'start'})")  # Streamlit scrolls its main block, not the window
    page.wait_for_timeout(1000)
    page.screenshot(path=str(artifacts / "browser-inspector-batchnorm-math.png"))


def test_residual_diagram_has_skip_arcs(app_server, browser_page, artifacts):
    page = browser_page
    page.goto(f"{app_server}/inspector?spec={encode_spec(preset('residual'))}")  # a fresh figure, by link
    page.get_by_text("residual: ", exact=False).first.wait_for(timeout=90_000)
    page.locator(PLOT).first.wait_for(timeout=60_000)
    page.wait_for_timeout(2000)
    hovers = [h for t in _traces(page) for h in _flat(t["hover"]) if isinstance(h, str)]
    arcs = [h for h in hovers if h.startswith("skip connection of layer")]
    assert len(arcs) == 2, hovers[:5]  # one per block, each with its share of the gradient
    chart = page.locator('[data-testid="stPlotlyChart"]').first
    chart.screenshot(path=str(artifacts / "browser-inspector-residual-diagram.png"))
    page.get_by_role("button", name="batchnorm", exact=True).click()  # then another network in the same figure
    page.get_by_text("batchnorm: ", exact=False).first.wait_for(timeout=60_000)
    page.wait_for_timeout(2000)
    chart.screenshot(path=str(artifacts / "browser-inspector-residual-then-batchnorm.png"))


def test_dropout_diagram_greys_the_dropped_units(app_server, browser_page):
    page = browser_page
    _open_preset(page, app_server, "dropout")
    dropped = [(t["color"][i], h) for t in _traces(page) if isinstance(t["hover"], list)
               for i, h in enumerate(t["hover"]) if isinstance(h, str) and h.endswith("dropped")]
    assert dropped, "no unit marked dropped"
    assert all(colour == "#d0d0d0" for colour, _ in dropped)  # drawn grey
