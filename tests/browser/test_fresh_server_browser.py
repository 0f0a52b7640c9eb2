"""The first visit to a just-started server (its own server: nothing has run app.py yet). Streamlit first sends
its automatic navigation from the pages/ folder — file names, lower case: "app, activations, compare, …" —
and app.py's own menu only replaces it once app.py has run. The sidebar must only ever show the pages' titles."""
from __future__ import annotations

import re

import pytest

from tests.browser.helpers import sidebar_nav
from tests.browser.test_pages_browser import NAV

pytestmark = pytest.mark.browser

# every set of sidebar links the page shows, recorded from the first DOM change on (before any page script runs)
RECORD_SIDEBAR = """
window.__sidebars = [];
new MutationObserver(() => {
    const bar = document.querySelector('[data-testid="stSidebar"]');
    if (!bar) return;
    const links = Array.from(bar.querySelectorAll('a')).map(a => a.innerText.split('\\n').pop().trim());
    const last = window.__sidebars[window.__sidebars.length - 1];
    if (links.length && JSON.stringify(links) !== JSON.stringify(last)) window.__sidebars.push(links);
}).observe(document, {childList: true, subtree: true, characterData: true});
"""


def test_the_first_page_of_a_fresh_server_never_lists_file_names(app_server, browser_page, artifacts):
    page = browser_page
    page.add_init_script(RECORD_SIDEBAR)
    page.goto(app_server + "/")
    page.get_by_text("three independent ways").first.wait_for(timeout=90_000)
    page.wait_for_timeout(1500)
    page.screenshot(path=str(artifacts / "browser-fresh-server-home.png"))
    seen = page.evaluate("() => window.__sidebars")
    assert seen and all(links == NAV for links in seen), seen
    assert sidebar_nav(page) == NAV
    # Home paints before torch is loaded (ui/warmup.py); the device's name replaces "loading PyTorch…" by itself
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_text(re.compile(r"Device: (CPU|CUDA|Apple MPS)")).wait_for(timeout=90_000)
    page.get_by_text(re.compile(r"Computing on (CPU|CUDA|Apple MPS)")).wait_for(timeout=10_000)
    assert page.get_by_text("loading PyTorch").count() == 0
    page.screenshot(path=str(artifacts / "browser-fresh-server-home-device.png"))
