"""Every test runs against a throw-away data directory: no test writes the project's .backprop-lab/
(its run store or MNIST cache). Tests that need their own directory still monkeypatch the variables.

The one headless Chromium of the session lives here, above every folder with browser tests (tests/browser,
tests/robustness): Playwright's sync API cannot start twice in one process."""
from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def _isolated_data_dir(tmp_path_factory):
    home = tmp_path_factory.mktemp("backprop-lab-home")
    saved = {k: os.environ.get(k) for k in ("BACKPROP_LAB_HOME", "BACKPROP_LAB_STORE")}
    os.environ["BACKPROP_LAB_HOME"] = str(home)  # subprocesses the tests start inherit it
    os.environ.pop("BACKPROP_LAB_STORE", None)
    yield home
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def _browser():
    """Headless Chromium for the whole session (the page fixtures are in tests/browser/conftest.py)."""
    from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, _unavailable
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing: install Debian's chromium to run the browser tests")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed: pip install -r requirements-dev.txt")
    pw = sync_playwright().start()
    browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
    try:
        yield browser
    finally:
        browser.close()
        pw.stop()
