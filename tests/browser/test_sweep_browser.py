"""A process sweep from the Compare page of a served app, twice: both land, the server's log stays free of
Streamlit's bare-mode warnings (workers used to re-run app.py), and the second sweep reuses the first's workers
(`python -m engine.sweep.worker` processes, not copies of the server). The second sweep's runs bear the first's
names, so the first's gain a short id ("adam" → "adam [82460b]"): the page must not die on the browser's stale
labels (it did: a TypeError in the landscape's run picker), and the landscape keeps the runs picked before."""
from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from engine.store.runs import RunStore
from tests.browser.helpers import wait_settled

pytestmark = pytest.mark.browser

DONE = re.compile(r"Sweep sw-\w+ (finished|failed|stopped): .*")


def _fill_two_run_sweep(page, executor: str) -> None:
    """sgd and adam (the other default optimizers removed), one learning rate, 2 epochs."""
    page.get_by_text("Run a sweep").first.wait_for(timeout=90_000)
    for name in ("rmsprop", "adamw"):
        page.get_by_role("button", name=f"Remove {name}").click()
    for label, value in (("Learning rates (comma-separated)", "0.1"), ("Epochs", "2")):
        box = page.get_by_label(label, exact=True)
        box.fill(value)
        box.press("Tab")
    page.locator("[data-testid=stRadio] label").filter(has_text=re.compile(f"^{executor}$")).click()


def _sweep(page, before: str, timeout_s: float = 240) -> str:
    """Start the form's sweep; return the report line once it is not `before` (the previous sweep's)."""
    start = page.get_by_role("button", name="Start sweep")
    if not start.is_visible():  # after a sweep the form's expander is closed
        page.get_by_text("Run a sweep").first.click()
    start.click()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        report = page.get_by_text(DONE)
        if report.count() and report.first.inner_text() != before:
            return report.first.inner_text()
        time.sleep(0.25)
    raise AssertionError(f"the sweep did not end in {timeout_s:.0f} s")


def _landscape_drawn(page) -> None:
    """Until the page's run has drawn the landscape section (its button comes after the run picker), or died."""
    done = page.get_by_role("button", name="Compute the landscape").or_(page.get_by_test_id("stException"))
    done.first.wait_for(timeout=60_000)
    wait_settled(page)  # after the second sweep the section is there already, stale until redrawn


def _landscape_pick(page) -> list[str]:
    """The labels of the runs picked in the landscape's multiselect (its chips)."""
    picker = page.get_by_test_id("stMultiSelect").filter(has_text="Runs (one network, dataset and loss)")
    return sorted({chip.get_attribute("aria-label") for chip in picker.locator("[data-tag-index]").all()})


def test_two_process_sweeps_land_without_bare_mode_warnings_on_warm_workers(app_server, app_home: Path,
                                                                             browser_page, artifacts):
    page = browser_page
    page.goto(f"{app_server}/compare")
    _fill_two_run_sweep(page, "process")
    first = _sweep(page, before="")
    _landscape_drawn(page)
    picked = _landscape_pick(page)
    assert picked == ["adam", "sgd"], picked
    page.screenshot(path=str(artifacts / "browser-sweep-process-first.png"), full_page=True)
    second = _sweep(page, before=first)
    _landscape_drawn(page)
    page.screenshot(path=str(artifacts / "browser-sweep-process-second.png"), full_page=True)
    assert not page.get_by_test_id("stException").count(), page.get_by_test_id("stException").first.inner_text()
    for report in (first, second):
        assert re.fullmatch(r"Sweep sw-\w+ finished: 2 of 2 runs stored\.", report), report

    runs = RunStore(app_home / "runs.sqlite", readonly=True).runs()
    assert len(runs) == 4 and set(runs["status"]) == {"finished"}
    older = runs[runs["sweep_id"] == runs["sweep_id"].iloc[0]]  # runs() is oldest first
    page.get_by_text("Runs (one network, dataset and loss)").scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "browser-sweep-process-second-landscape.png"))
    assert _landscape_pick(page) == sorted(older["name"] + " [" + older["run_id"].str[:6] + "]")
    by_sweep = runs.groupby("sweep_id", sort=False)["pid"].apply(set).tolist()
    assert by_sweep[1] <= by_sweep[0]  # the second sweep ran on the first one's worker processes
    for pid in by_sweep[0]:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        assert b"engine.sweep.worker" in cmdline, cmdline  # a worker of our own, still warm
    log = (app_home / "streamlit.log").read_text()
    assert "bare mode" not in log and "ScriptRunContext" not in log, log[-3000:]
    assert "engine/sweep/" not in log, log[-3000:]  # no traceback through the executors or a worker
