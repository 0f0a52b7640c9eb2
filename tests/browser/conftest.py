"""Browser-test fixtures: the app served by `streamlit run app.py`, and a Playwright page on the system Chromium.

`app_home` is the BACKPROP_LAB_HOME of the served app (one temporary directory per test module; its run store is
`app_home / "runs.sqlite"`): write runs there before opening a page. `app_server` is the base URL, `browser_page`
a fresh Playwright page (from the session's one Chromium, `_browser` in tests/conftest.py). `app_env` (empty
here) adds environment variables to the served app: a test module overrides it, e.g. to serve small job caps. Without
/usr/bin/chromium (or Playwright) the tests skip with the reason, unless BACKPROP_LAB_REQUIRE_BROWSER=1 (CI),
where they fail instead.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tools.app_server import served

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


def _unavailable(reason: str) -> None:
    if os.environ.get("BACKPROP_LAB_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (BACKPROP_LAB_REQUIRE_BROWSER=1, so this fails instead of skipping)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def app_home(tmp_path_factory) -> Path:
    """BACKPROP_LAB_HOME of the served app: an empty data directory per test module."""
    return tmp_path_factory.mktemp("backprop-lab-home")


@pytest.fixture(scope="module")
def app_env() -> dict[str, str]:
    """Extra environment of the served app (operator settings); a test module overrides this fixture."""
    return {}


@pytest.fixture(scope="module")
def app_server(app_home: Path, app_env: dict[str, str]):
    """`streamlit run app.py` on a free port with BACKPROP_LAB_HOME=app_home (+ app_env); yields the base URL."""
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing: install Debian's chromium to run the browser tests")
    ARTIFACTS.mkdir(exist_ok=True)
    with served(app_home, app_env) as url:
        yield url


@pytest.fixture
def browser_page(_browser):
    """A fresh Playwright page (1400×1000) in its own context."""
    context = _browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        yield page
    finally:
        context.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """test-artifacts/ (screenshots land here)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
