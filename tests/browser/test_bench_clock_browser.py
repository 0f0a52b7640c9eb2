"""The browser bench's clock (bench/rows_browser.py, row 10) on a page whose timing is known: a click that adds the
marker text after a set delay. The clock must read that delay (not Playwright's polling back-off, which reported
text drawn at 0.40 s as 0.79 s), ignore hidden copies of the text, find text split across elements, and refuse to
time a marker that is on screen before the action."""
from __future__ import annotations

from urllib.parse import quote

import pytest

from bench.rows_browser import _arm_navigation, _painted, _timed_click

# The click appends "<b>Hello</b> N world" after N ms; hidden copies of the marker
# (display: none; visibility: hidden) are there from the start.
PAGE = """<button id=go onclick="setTimeout(() => {{ const d = document.createElement('div');
  d.innerHTML = '<b>Hello</b> {ms} world'; document.body.append(d); }}, {ms})">go</button>
<div style="display:none">Hello {ms} world</div><div style="visibility:hidden">Hello {ms} world</div>"""


@pytest.mark.parametrize("ms", [200, 400, 700])
def test_click_clock_reads_the_delay(browser_page, ms):
    browser_page.set_content(PAGE.format(ms=ms))
    seconds = _timed_click(browser_page, browser_page.locator("#go"), f"Hello {ms} world")
    # from mousedown: the click event itself follows mousedown by a few ms; a frame is ≤ 17 ms; slack for load
    assert ms / 1000 <= seconds <= ms / 1000 + 0.12


def test_clock_refuses_a_marker_already_on_screen(browser_page):
    browser_page.set_content("<button id=go>go</button><p>Already here</p>")
    with pytest.raises(Exception, match="already on screen before the action"):
        _timed_click(browser_page, browser_page.locator("#go"), "Already here")


def test_navigation_clock_counts_from_navigation_start(browser_page):
    """A fresh page's clock starts at its navigation: text added 300 ms after load reads ≥ 0.3 s."""
    browser_page.add_init_script(_arm_navigation("Late text"))
    html = """<body><script>addEventListener('load', () => setTimeout(() => {
      document.body.insertAdjacentHTML('beforeend', '<p>Late text</p>'); }, 300));</script></body>"""
    browser_page.goto("data:text/html," + quote(html))  # a navigation: a new document runs the init script
    assert 0.3 <= _painted(browser_page) <= 2.0
