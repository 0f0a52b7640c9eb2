"""The sidebar every page shares: the menu of pages, the device in use and the session's seed. No torch here:
it draws on every page, the first one of a fresh server too (ui/warmup.py names the device)."""
from __future__ import annotations

import streamlit as st

from ui.warmup import device_caption


def render_sidebar(pages: list | None = None) -> int:
    """Show a link to each page (st.Page objects: their titles and icons), the device and a seed input;
    return the seed (shared by pages through session state)."""
    with st.sidebar:
        for page in pages or []:
            st.page_link(page)
        if pages:
            st.divider()
        device_caption("**Device:** {device}", key="sidebar_device")
        seed = st.number_input("Seed", min_value=0, max_value=2**31 - 1, value=st.session_state.get("seed", 0),
                               step=1, key="seed", help="Every random draw in the app is seeded from here.")
    return int(seed)
