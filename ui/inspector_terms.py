"""The Math tab's term-by-term view of one element of ∂L/∂a_{l-1} for the kinds that are not a dense map
(BatchNorm, LayerNorm, residual blocks, dropout): each kind writes its own derivation with the trace's numbers."""
from __future__ import annotations

import streamlit as st

from engine.inspector.equations import input_term_example
from engine.inspector.trace import Trace
from ui.inspector_views import keep_in_options, keep_in_range


def render_input_terms(t: Trace) -> None:
    layers = [lt for lt in t.all_layers if lt.layer.type != "linear"]
    if not layers:
        return
    st.markdown("#### One input gradient, term by term")
    names = [f"layer {lt.index} ({lt.layer.type})" for lt in layers]
    keep_in_options("insp_elem_layer", names)
    c = st.columns(3)
    pick = c[0].selectbox("Layer", names, key="insp_elem_layer")
    lt = layers[names.index(pick)]
    rows, cols = lt.input.shape
    keep_in_range("insp_elem_r", 0, rows - 1)
    keep_in_range("insp_elem_j", 0, cols - 1)
    r = int(c[1].number_input("batch row r", 0, rows - 1, step=1, key="insp_elem_r"))
    j = int(c[2].number_input("feature j", 0, cols - 1, step=1, key="insp_elem_j"))
    ex = input_term_example(t, lt.index, r, j)
    for caption, tex in ex.lines:
        st.caption(caption)
        st.latex(tex)
    auto = lt.grads["input"].autograd[r, j].item()
    st.caption(f"{ex.total:.10g} is entry [{r},{j}] of ∂L/∂a{lt.index - 1} in the Backward tab (autograd gives "
               f"{auto:.10g}). Numbers are rounded to 4 digits on screen; indices count from 0, as in PyTorch.")
