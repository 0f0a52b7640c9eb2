"""Make a deep link on a freshly started server go through app.py's st.navigation.

Streamlit still knows the old multipage mode: at start-up it sees the `pages/` folder and, until
some run has called st.navigation, runs a requested page script directly — without app.py, so
without our sidebar, titles or layout. A page that finds itself run that way switches the process
to st.navigation mode and reruns; the rerun goes through app.py and lands on the same page.
"""
from __future__ import annotations

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager


def ensure_navigation() -> None:
    """Call first thing in every page script."""
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()
