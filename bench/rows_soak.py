"""Row 11: the server's memory over a class of visitors — the real server (`streamlit run app.py`) and Chromium.

  11   60 visitors one after another, each in a fresh browser context (a new session): Home, every page from
       the sidebar, the Inspector's Backward tab; then the visitor leaves. The server's resident memory (VmRSS,
       from /proc) is read after each visitor (~6 s a visitor: the one before has been dropped by then).

Reported: the growth per visitor over the second half of the visitors (least-squares slope, MB), against the
target that a visitor who has left costs the server no more than 0.5 MB (what stays after the session is dropped:
caches are bounded, the Python heap frees the session, the rest is the C allocator's). The row drops a session
SESSION_TTL_S after its visitor leaves (Streamlit keeps a disconnected session 120 s by default, for reconnects), so
it measures what a session leaves behind, not how many are alive. Linux only (/proc); without Chromium or Playwright
the row says so, unmeasured. Nothing here is asserted by a test.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench import Context, Result
from bench.rows_browser import CHROMIUM, PAGES, unavailable, wait_visible
from tools.app_server import serving

ROWS = {"11": "server memory: growth per visitor who has left (each opens every page), second half of the class"}
VISITORS, QUICK_VISITORS = 60, 2  # the C allocator settles over the first ~50 (bench/README.md, row 11)
SESSION_TTL_S = 3
TARGET_MB = 0.5


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def _visit(browser, url: str) -> None:
    """One visitor: a new session that opens every page, and the Inspector's Backward tab, then leaves."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        page.goto(url + "/")
        wait_visible(page, PAGES["Home"])
        for title in [p for p in PAGES if p != "Home"]:
            page.get_by_test_id("stSidebar").locator("a").filter(has_text=title).first.click()
            wait_visible(page, PAGES[title])
            if title == "Inspector":
                page.get_by_role("tab", name="Backward").click()
                wait_visible(page, "All gradients agree")
    finally:
        context.close()


def slope(ys: list[float]) -> float:
    """Least-squares slope of ys against 0, 1, 2, … (per step)."""
    n = len(ys)
    if n < 2:
        return 0.0
    mx, my = (n - 1) / 2, sum(ys) / n
    return sum((i - mx) * (y - my) for i, y in enumerate(ys)) / sum((i - mx) ** 2 for i in range(n))


def soak_rows(ctx: Context) -> list[Result]:
    why = unavailable() or (None if Path("/proc/self/status").exists() else "no /proc: Linux only")
    if why:
        return [Result("11", ROWS["11"], note=f"unmeasured: {why}")]
    from playwright.sync_api import sync_playwright

    visitors = QUICK_VISITORS if ctx.quick else VISITORS
    env = {"STREAMLIT_SERVER_DISCONNECTED_SESSION_TTL": str(SESSION_TTL_S)}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                     args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            with tempfile.TemporaryDirectory(dir=ctx.tmp or None) as home, serving(Path(home), env) as (url, proc):
                start = rss_mb(proc.pid)
                after = []
                for _ in range(visitors):
                    _visit(browser, url)  # ~6 s: the visitor before has been dropped by now
                    after.append(rss_mb(proc.pid))
                time.sleep(SESSION_TTL_S + 1)  # the last visitor's session is dropped too
                end = rss_mb(proc.pid)
        finally:
            browser.close()
    growth = slope(after[len(after) // 2:])
    return [Result("11", ROWS["11"], growth, TARGET_MB, "MB", f"≤ {TARGET_MB:g} MB a visitor", growth <= TARGET_MB,
                   note=f"{visitors} visitors; RSS {start:.0f} MB at start, {after[0]:.0f} after the first, "
                        f"{after[len(after) // 2]:.0f} half-way, {end:.0f} after the last; baseline = the target",
                   details={"rss_mb_after_each": after, "rss_mb_start": start, "rss_mb_end": end})]


GROUPS = [(tuple(ROWS), soak_rows)]
