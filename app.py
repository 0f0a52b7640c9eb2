"""Backprop Lab: the entry point only registers the pages (Streamlit's st.navigation)."""

import streamlit as st

from ui import warmup
from ui.sidebar import render_sidebar

PAGES = [  # (script, title, icon)
    ("pages/home.py", "Home", ":material/home:"),
    ("pages/inspector.py", "Inspector", ":material/biotech:"),
    ("pages/train.py", "Train", ":material/model_training:"),
    ("pages/compare.py", "Compare", ":material/stacked_line_chart:"),
    ("pages/optimizers.py", "Optimizers", ":material/landscape:"),
    ("pages/activations.py", "Activations", ":material/show_chart:"),
    ("pages/lessons.py", "Lessons", ":material/school:"),
]


def main() -> None:
    st.set_page_config(page_title="Backprop Lab", page_icon=":material/device_hub:", layout="wide")
    pages = [st.Page(script, title=title, icon=icon, default=(i == 0))
             for i, (script, title, icon) in enumerate(PAGES)]
    nav = st.navigation(pages, position="hidden")  # our own menu (ui/sidebar.py), the same from the first paint
    render_sidebar(pages)
    try:
        nav.run()
    finally:  # also after a page's st.stop or st.rerun
        warmup.start()  # torch (and its thread count) loads after the first page is drawn: Home does not need it


main()
