"""The builder's residual-block tools: wrap consecutive layers in a block x + f(x), or unwrap one back into its
layers. The spec transform is engine.inspector.blocks; a refused group is said in one line under the buttons."""
from __future__ import annotations

import streamlit as st

from engine.core.spec import SpecError
from engine.inspector.blocks import unwrap_block, wrap_in_block
from engine.inspector.spec import NetworkSpec
from ui.inspector_build import SPEC, load_spec
from ui.text import TEXT_CHARS, plain_markdown

ERROR = "insp_block_error"


def _apply(change) -> None:
    """Button callback: load the changed network, or keep the current one and remember why not."""
    ss = st.session_state
    try:
        load_spec(change(NetworkSpec.from_dict(ss[SPEC])))
        ss[ERROR] = None
    except (SpecError, ValueError) as err:
        ss[ERROR] = "; ".join(err.problems) if isinstance(err, SpecError) else str(err)


def _wrap() -> None:
    ss = st.session_state
    _apply(lambda spec: wrap_in_block(spec, int(ss["insp_wrap_first"]), int(ss["insp_wrap_last"])))


def _unwrap() -> None:
    position = int(st.session_state["insp_unwrap"].split()[1])
    _apply(lambda spec: unwrap_block(spec, position))


def render_block_tools() -> None:
    layers = st.session_state[SPEC]["layers"]
    st.caption("Residual blocks: wrap consecutive layers so that the block computes x + f(x) (the group must end "
               "at the width it starts from), or unwrap a block back into its layers.")
    c = st.columns([1, 1, 2, 2])
    st.session_state.setdefault("insp_wrap_first", 1)
    st.session_state.setdefault("insp_wrap_last", min(2, len(layers)))
    c[0].number_input("first layer", min_value=None, max_value=None, step=1, key="insp_wrap_first")
    c[1].number_input("last layer", min_value=None, max_value=None, step=1, key="insp_wrap_last")
    c[2].button("Wrap in a residual block", key="insp_wrap", on_click=_wrap)
    blocks = [f"layer {i} (residual)" for i, layer in enumerate(layers, start=1) if layer.get("type") == "residual"]
    if blocks:
        with c[3]:
            st.selectbox("block", blocks, key="insp_unwrap", label_visibility="collapsed")
            st.button("Unwrap this block", key="insp_unwrap_button", on_click=_unwrap)
    if st.session_state.get(ERROR):
        st.error(plain_markdown(st.session_state[ERROR], TEXT_CHARS))
