"""Stored script injection, in a real browser: runs named with HTML / script / markdown payloads are planted in
the store the served app reads; Compare (runs table, HiPlot, Plotly overlay) and the Inspector (a share link whose
spec name is a payload) are opened in Chromium. No dialog may fire in the page or any of its frames, no planted
element (img, svg, script, javascript: link, remote image) may appear in any frame, and the names read literally.
"""
from __future__ import annotations

import re

import pytest

from engine.inspector.share import encode_spec
from engine.inspector.spec import NetworkSpec
from engine.store.runs import RunStore
from tests.browser.helpers import sidebar_link

pytestmark = pytest.mark.browser

HIPLOT = 'iframe[title="hiplot.streamlit_helpers.hiplot"]'
PAYLOADS = [
    "<img src=x onerror=alert('img')>",
    "<script>alert('script')</script>",
    "<svg onload=alert('svg')>",
    "<a href=\"javascript:alert('link')\">click me</a>",
    "[phish](https://example.invalid/login) ![pixel](https://example.invalid/p.png)",
]
# the elements the payloads would plant if they were parsed as HTML or markdown, in any frame
PLANTED = """() => Array.from(document.querySelectorAll(
        "img[src='x'], img[src*='example.invalid'], svg[onload], a[href^='javascript:'], a[href*='example.invalid'],"
        + " script")).filter(e => e.tagName !== 'SCRIPT' || e.textContent.includes('alert('))
    .map(e => e.outerHTML)"""
# every frame also records its alert/confirm/prompt calls in the top window (and still opens the dialog)
TRAP = """for (const f of ['alert', 'confirm', 'prompt']) {
    const original = window[f];
    window[f] = function (m) { (window.top.__xss = window.top.__xss || []).push(f + ': ' + m);
                               return original.call(window, m); }; }"""


@pytest.fixture(scope="module")
def planted_runs(app_home):
    """One finished run per payload, with an epoch of metrics so every Compare section draws it."""
    store = RunStore(app_home / "runs.sqlite")
    ids = []
    for i, name in enumerate(PAYLOADS):
        config = {"dataset": "moons", "optimizer": ["sgd", "adam"][i % 2], "lr": [0.01, 0.1][i % 2],
                  "layers": "8:relu,2:identity", "epochs": 1, "seed": i}
        rid = store.create_run(config, device="cpu", name=name)
        store.log_epoch(rid, {"epoch": 1, "train_loss": 0.5 + i / 10, "val_loss": 0.6 + i / 10})
        store.finish(rid, "finished", summary={"final_train_loss": 0.5 + i / 10, "final_val_loss": 0.6 + i / 10})
        ids.append(rid)
    return ids


def _guard(page) -> list[str]:
    dialogs: list[str] = []

    def on_dialog(dialog):
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    return dialogs


def _planted_in_frames(page) -> list[str]:
    """Every planted element found in the page or any of its frames, described."""
    found = []
    for frame in page.frames:
        try:
            found += frame.evaluate(PLANTED)
            found += frame.evaluate("() => window.top.__xss || []")
        except Exception as err:  # a frame detached while we looked: nothing planted there
            if "detached" not in str(err).lower():
                raise
    return found


def _frame_text(page) -> str:
    """The text of every frame, without the invisible word joiners that keep bare URLs from becoming links."""
    text = "\n".join(f.evaluate("() => document.body ? document.body.innerText : ''") for f in page.frames)
    return text.replace("\u2060", "")


def _open(page, url: str, ready) -> None:
    page.context.add_init_script(TRAP)
    page.goto(url.split("/compare")[0].split("/inspector")[0] + "/")
    sidebar_link(page, "Compare").wait_for(timeout=60_000)
    page.goto(url)
    ready.wait_for(timeout=60_000)


def test_run_names_with_markup_stay_text_on_compare(app_server, browser_page, planted_runs, artifacts):
    page = browser_page
    dialogs = _guard(page)
    _open(page, app_server + "/compare", page.get_by_text(re.compile(r"\d+ runs selected")).first)
    frame = page.locator(HIPLOT).element_handle().content_frame()
    frame.locator("table").first.wait_for(timeout=30_000)
    page.locator(".st-key-overlay g.legend").first.wait_for(timeout=30_000)
    page.wait_for_timeout(1500)  # onerror/onload handlers fire asynchronously
    page.screenshot(path=str(artifacts / "xss-compare.png"), full_page=True)

    assert dialogs == []
    assert _planted_in_frames(page) == []
    hiplot_text = frame.evaluate("() => document.body.innerText")
    legend = page.locator(".st-key-overlay g.legend").text_content()
    for name in PAYLOADS:
        assert name in hiplot_text, f"HiPlot does not show {name!r} literally"
        assert name in legend, f"the overlay legend does not show {name!r} literally"
    assert page.get_by_test_id("stException").count() == 0


def test_a_share_link_name_with_markup_stays_text_in_the_inspector(app_server, browser_page, artifacts):
    page = browser_page
    dialogs = _guard(page)
    name = PAYLOADS[4] + " " + PAYLOADS[0]
    code = encode_spec(NetworkSpec.from_dict({"input_size": 1, "layers": [{"units": 1}], "name": name}))
    _open(page, f"{app_server}/inspector?spec={code}", page.get_by_text("gradients agree").first)
    page.wait_for_timeout(1500)
    page.screenshot(path=str(artifacts / "xss-inspector.png"), full_page=True)

    assert dialogs == []
    assert _planted_in_frames(page) == []
    assert name[:60] in _frame_text(page)
