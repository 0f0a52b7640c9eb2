"""The robustness suite reuses the browser fixtures (served app, Chromium page) of tests/browser/conftest.py."""
from tests.browser.conftest import _browser, app_home, app_server, artifacts, browser_page  # noqa: F401
