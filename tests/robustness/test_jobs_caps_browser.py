"""The job caps in Chromium, on a server started with 2 trainings at once, 1 per session and a 3 s grace period.

Tab A starts a long training on Train, then (same tab, same session) a sweep on Compare: the sweep waits behind
A's own cap ("queued: position 1"). Tabs B and C are other sessions: B's run takes the server's second slot, C
waits behind the server cap ("queued: position 2"). Closing tab A stops A's run once the grace period is over —
the store says "stopped: the browser tab closed" — and C starts. Every wait is bounded."""
from __future__ import annotations

import time

import pytest

from engine.store.runs import RunStore
from tests.browser.helpers import sidebar_link, start_training

pytestmark = pytest.mark.browser

GRACE_S = 3
REAPER_EVERY_S = 5  # engine.train.background.JobQueue's default check_every
RUNNING = "Training on"  # the progress bar's text while a run trains


@pytest.fixture(scope="module")
def app_env() -> dict[str, str]:
    return {"BACKPROP_LAB_MAX_JOBS": "2", "BACKPROP_LAB_MAX_JOBS_PER_SESSION": "1",
            "BACKPROP_LAB_SESSION_GRACE_S": str(GRACE_S)}


def _start_long_training(page, url: str) -> None:
    """Train page, a small set (200 points) for 10 000 epochs: it runs until stopped."""
    start_training(page, url, samples=200, epochs=10_000)


def test_caps_queue_and_a_closed_tab_frees_its_slot(app_server, app_home, browser_page, artifacts):
    tab_a = browser_page
    _start_long_training(tab_a, app_server)
    tab_a.get_by_text(RUNNING).first.wait_for(timeout=60_000)

    # a second job in the same session (the sidebar keeps the session): Compare's sweep waits for A's slot
    sidebar_link(tab_a, "Compare").click()
    tab_a.get_by_text("Run a sweep").first.click()
    tab_a.get_by_role("button", name="Start sweep").click()
    tab_a.get_by_text("queued: position 1").wait_for(timeout=30_000)
    tab_a.screenshot(path=str(artifacts / "browser-caps-tab-a-sweep-queued.png"), full_page=True)

    tab_b, tab_c = tab_a.context.new_page(), tab_a.context.new_page()  # new pages: new websocket sessions
    for tab in (tab_b, tab_c):
        tab.set_default_timeout(30_000)
    _start_long_training(tab_b, app_server)
    tab_b.get_by_text(RUNNING).first.wait_for(timeout=60_000)
    _start_long_training(tab_c, app_server)
    tab_c.get_by_text("queued: position 2").wait_for(timeout=30_000)  # behind A's sweep: the server runs 2
    tab_c.screenshot(path=str(artifacts / "browser-caps-tab-c-queued.png"), full_page=True)
    assert tab_c.get_by_text(RUNNING).count() == 0

    closed = time.monotonic()
    tab_a.close()
    # A's run stops after the grace period (the reaper looks every 5 s); its slot goes to C
    tab_c.get_by_text(RUNNING).first.wait_for(timeout=(GRACE_S + 2 * REAPER_EVERY_S + 15) * 1000)
    waited = time.monotonic() - closed
    assert waited >= GRACE_S, f"C started {waited:.1f} s after A closed: before the grace period ended"
    tab_c.screenshot(path=str(artifacts / "browser-caps-tab-c-started.png"), full_page=True)
    assert tab_b.get_by_text(RUNNING).count() >= 1  # B was not touched

    runs = RunStore(app_home / "runs.sqlite", readonly=True).runs()
    stopped = runs[runs["status"] == "stopped"]
    assert len(stopped) == 1, runs[["name", "status", "message"]].to_string()
    assert stopped["message"].iloc[0].startswith("stopped: the browser tab closed"), stopped["message"].iloc[0]
    assert (runs["status"] == "running").sum() == 2  # B and C
