"""torch off the first page: Home and the sidebar need it only to name the device, and importing it takes
~3 s of CPU (bench/README.md, row 10). app.py starts one background thread per process, after the first page
is drawn, that imports torch, sets its threads and names the device; the device caption shows "loading PyTorch"
until then and polls (a fragment, every POLL_S) until the name is known. The next page usually finds torch loaded.
If the load fails, the caption says so in one line (the traceback goes to the server's log) and stops polling.
"""
from __future__ import annotations

import logging
import sys
import threading

import streamlit as st

from ui.text import TEXT_CHARS, plain_markdown

POLL_S = 0.5
LOADING = "loading PyTorch…"
_lock = threading.Lock()
_thread: threading.Thread | None = None
_label: str | None = None  # the device's name, once torch is loaded and its threads set
_error: str | None = None  # why torch could not be loaded (one line), once the load failed


def _load() -> None:
    global _label, _error
    try:
        from engine.train.device import configure_threads, device_label

        configure_threads()
        _label = device_label()
    except Exception as err:  # noqa: BLE001 — whatever broke the import, the page says it in one line
        logging.getLogger(__name__).exception("PyTorch could not be loaded")
        _error = f"PyTorch could not be loaded ({type(err).__name__}: {err}); see the server log"


def start() -> None:
    """Once per process: load torch on a daemon thread (a page that imports it meanwhile waits on the import)."""
    global _thread
    with _lock:
        if _thread is None:
            _thread = threading.Thread(target=_load, name="backprop-lab-warmup", daemon=True)
            _thread.start()


def device_text() -> str | None:
    """The device's name ('CPU (1 thread)', 'CUDA: …'), or None while torch is still loading. Where torch was
    imported before any warm-up started (a test, a script), the name is worked out here and now."""
    global _thread
    if _label is None and "torch" in sys.modules:
        with _lock:
            if _thread is None:  # nobody is loading it in the background: it is (being) imported elsewhere
                _thread = threading.current_thread()
                _load()
    return _label


def _caption(template: str) -> tuple[str, bool]:
    """(the caption, whether it is final): template with the device's name; or, once the load failed, why, in
    place of the whole template; else template with LOADING."""
    label = device_text()
    if label is not None:
        return template.format(device=label), True
    if _error is not None:
        return plain_markdown(_error, TEXT_CHARS), True
    return template.format(device=LOADING), False


def device_caption(template: str, key: str) -> None:
    """st.caption(template with {device}); while torch loads, the caption says so and reruns itself every POLL_S
    (a fragment: only this caption), then reruns the page once so that the polling stops."""
    def caption() -> None:
        text, final = _caption(template)
        st.caption(text)
        if final and polling:
            st.rerun()

    polling = not _caption(template)[1]
    st.fragment(caption, run_every=POLL_S if polling else None, key=key)()
