"""Widget values that survive lazy tabs: Streamlit forgets a widget's value when a run does not draw it (another
tab is open, since a closed tab's content does not run), so a copy is kept under a plain key."""
from __future__ import annotations

import streamlit as st


def remembered(key: str) -> str:
    """Put the kept copy back before the widget is drawn again; returns key. Call remember(key) after it."""
    if key not in st.session_state and f"kept_{key}" in st.session_state:
        st.session_state[key] = st.session_state[f"kept_{key}"]
    return key


def remember(*keys: str) -> None:
    for key in keys:
        if key in st.session_state:  # a rerun cut short (st.stop, a new spec) may not have drawn the widget
            st.session_state[f"kept_{key}"] = st.session_state[key]
