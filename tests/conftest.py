"""Every test runs against a throw-away data directory: no test writes the project's .backprop-lab/
(its run store or MNIST cache). Tests that need their own directory still monkeypatch the variables."""
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
