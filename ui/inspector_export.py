"""The Inspector's Export: the current network as a standalone torch program (.py) or notebook (.ipynb)."""
from __future__ import annotations

import streamlit as st

from engine.export import export
from engine.inspector.budget import MAX_EXPORT_NUMBERS
from engine.inspector.spec import NetworkSpec

FILES = {"py": ("Python script (.py)", "text/x-python"),
         "ipynb": ("Jupyter notebook (.ipynb)", "application/x-ipynb+json")}


@st.cache_data(max_entries=4, show_spinner=False)  # up to ~2 MB of text per format at the 100 000-number edge
def _exported(spec_json: str, fmt: str) -> str:
    return export(NetworkSpec.from_json(spec_json), fmt)


def render_export(spec: NetworkSpec) -> None:
    """Two download buttons, or why the network is too large to write out."""
    st.subheader("Export as a program")
    numbers = spec.n_export_numbers
    if numbers > MAX_EXPORT_NUMBERS:
        st.caption(f"This network has {numbers:,} weights and data values; an export writes every one of them out "
                   f"and is offered up to {MAX_EXPORT_NUMBERS:,}. Use fewer or narrower layers or a smaller batch.")
        return
    st.caption("A standalone program that needs only torch: this network's exact weights and data, the forward "
               "pass, the backward pass written out by hand layer by layer, autograd, and the comparison. "
               "`python backprop-lab-network.py --json` prints its gradients in the shape of "
               "`python -m engine inspect --json` and exits 0 only when every manual gradient agrees with autograd.")
    spec_json = spec.to_json()
    for column, (fmt, (label, mime)) in zip(st.columns(len(FILES)), FILES.items(), strict=True):
        with column:
            st.download_button(f"Export: {label}", _exported(spec_json, fmt), file_name=f"backprop-lab-network.{fmt}",
                               mime=mime, key=f"insp_export_{fmt}")
