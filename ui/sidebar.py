"""The sidebar every page shares: the device in use and the session's seed."""
from __future__ import annotations

import streamlit as st

from engine.train.device import device_label


@st.cache_resource
def device_text() -> str:
    return device_label()


def render_sidebar() -> int:
    """Show the device and a seed input; return the seed (shared by pages through session state)."""
    with st.sidebar:
        st.caption(f"**Device:** {device_text()}")
        seed = st.number_input("Seed", min_value=0, max_value=2**31 - 1, value=st.session_state.get("seed", 0),
                               step=1, key="seed", help="Every random draw in the app is seeded from here.")
    return int(seed)
