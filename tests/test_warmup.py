"""ui/warmup.py when torch cannot be loaded: the device caption says so in one line and stops polling (it used to
say "loading PyTorch…" and rerun itself every POLL_S for ever)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import ui.warmup as warmup

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def torch_fails(monkeypatch):
    """A fresh warm-up state whose load raises ImportError (None in sys.modules halts an import)."""
    monkeypatch.setitem(sys.modules, "engine.train.device", None)
    for name, value in (("_thread", None), ("_label", None), ("_error", None)):
        monkeypatch.setattr(warmup, name, value, raising=False)


@pytest.fixture
def polls(monkeypatch) -> list:
    """The run_every of each st.fragment made while the page runs (None: it does not rerun by itself)."""
    seen, fragment = [], st.fragment

    def spy(func=None, *, run_every=None, **kwargs):
        seen.append(run_every)
        return fragment(func, run_every=run_every, **kwargs)

    monkeypatch.setattr(st, "fragment", spy)
    return seen


def test_a_failed_torch_load_is_one_line_in_the_caption_and_the_polling_stops(torch_fails, polls):
    warmup.start()
    warmup._thread.join(30)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    for captions in (at.main.caption, at.sidebar.caption):  # Home's "Computing on …" and the sidebar's "Device: …"
        said = [c.value.replace("\\", "") for c in captions if "PyTorch" in c.value]  # markdown's escapes off
        assert len(said) == 1 and said[0].startswith("PyTorch could not be loaded (ModuleNotFoundError"), said
        assert "\n" not in said[0] and warmup.LOADING not in said[0]
    assert polls and all(every is None for every in polls), polls
