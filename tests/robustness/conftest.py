"""The robustness suite's browser tests reuse tests/browser/conftest.py's fixtures (served app, page); the
session's Chromium itself (`_browser`) is in tests/conftest.py, shared by both folders."""
from tests.browser.conftest import app_env, app_home, app_server, artifacts, browser_page  # noqa: F401
