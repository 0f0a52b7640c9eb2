"""Opening a page under Streamlit's AppTest with query parameters, and the check that it ran without an exception."""
from __future__ import annotations

from streamlit.testing.v1 import AppTest


def open_page(path: str, timeout: float = 60, **params) -> AppTest:
    at = AppTest.from_file(path, default_timeout=timeout)
    for k, v in params.items():
        at.query_params[k] = v
    return at.run()


def assert_ran(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]
