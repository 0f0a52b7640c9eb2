"""The Math tab's term-by-term view of one element of ∂L/∂a_{l-1} for the kinds that are not a dense map
(BatchNorm, LayerNorm, residual blocks, dropout): each kind writes its own derivation with the trace's numbers."""
from __future__ import annotations

import streamlit as st

from engine.inspector.equations import input_term_example
from engine.inspector.trace import Trace
from ui.inspector_views import pick_entry


def render_input_terms(t: Trace) -> None:
    layers = [lt for lt in t.all_layers if lt.layer.type != "linear"]
    if not layers:
        return
    st.markdown("#### One input gradient, term by term")
    choices = {f"layer {lt.index} ({lt.layer.type})": lt for lt in layers}
    # an entry of the layer's input a_{l-1}, shape (batch, in)
    lt, r, j = pick_entry("insp_elem", "Layer", choices, lambda lt: lt.input.shape, ("r", "batch row r"),
                          ("j", "feature j"))
    ex = input_term_example(t, lt.index, r, j)
    for caption, tex in ex.lines:
        st.caption(caption)
        st.latex(tex)
    auto = lt.grads["input"].autograd[r, j].item()
    st.caption(f"{ex.total:.10g} is entry [{r},{j}] of ∂L/∂a{lt.index - 1} in the Backward tab (autograd gives "
               f"{auto:.10g}). Numbers are rounded to 4 digits on screen; indices count from 0, as in PyTorch.")
