"""The Inspector's Math, Graph, Step and Share views."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from engine.core.optim import LESSON_OPTIMIZERS, UPDATE_RULES
from engine.inspector.budget import MAX_EXPORT_NUMBERS
from engine.inspector.equations import layer_equations, loss_equation, weight_term_example
from engine.inspector.share import LINK_FRIENDLY_CHARS, encode_spec, export_json, spec_from_upload
from engine.inspector.spec import NetworkSpec, SpecError
from engine.inspector.steps import MAX_LR, run_steps
from engine.inspector.trace import Trace
from ui.axes import honest_axes
from ui.inspector_build import load_spec
from ui.inspector_terms import render_input_terms
from ui.inspector_views import cached_dot, pick_entry
from ui.matrix import show_values
from ui.stepper import STEP_KEY, current_step
from ui.text import TEXT_CHARS, plain_markdown

UI_MAX_STEPS = 500
SHARE_KEY = "spec"  # the query parameter that carries the network


def render_math(t: Trace) -> None:
    eq = loss_equation(t.spec)
    st.caption(eq.caption)
    st.latex(eq.latex)
    st.caption("Read from the output layer down: each layer's δ is built from the layer above it. "
               f"Shapes are this network's, with B = {t.x.shape[0]} rows in the batch.")
    for lt in reversed(t.all_layers):
        with st.expander(f"Layer {lt.index} ({lt.layer.describe()})", expanded=len(t.all_layers) <= 3):
            for e in layer_equations(t.spec, lt.index):
                st.caption(e.caption)
                st.latex(e.latex)
    _term_example(t)
    render_input_terms(t)


def wrap_terms(tex: str, per_line: int = 2) -> str:
    """'lhs = Σ… = t₁ + t₂ + … = total' as aligned lines of `per_line` products each: written on one line,
    eight products of 4-digit numbers run off the page's right edge."""
    parts = tex.split(" = ")
    if len(parts) != 4:
        return tex
    lhs, formula, shown, total = parts
    terms = shown.split(" + ")
    if len(terms) <= per_line:  # short enough for one line
        return tex
    lines = [" + ".join(terms[k:k + per_line]) for k in range(0, len(terms), per_line)]
    body = r" \\ &\quad + ".join(lines)
    return rf"\begin{{aligned}} {lhs} &= {formula} \\ &= {body} \\ &= {total} \end{{aligned}}"


def _term_example(t: Trace) -> None:
    st.markdown("#### One weight, term by term")
    linear = {f"W{lt.index}": lt for lt in t.all_layers if lt.layer.type == "linear"}
    # an entry of W_l, shape (out, in)
    lt, i, j = pick_entry("insp_term", "Weight matrix", linear, lambda lt: lt.weight.shape,
                          ("i", "row i (output unit)"), ("j", "column j (input unit)"))
    ex = weight_term_example(t, lt.index, i, j)
    st.latex(wrap_terms(ex.latex))
    st.dataframe(pd.DataFrame(ex.terms, columns=["batch row r", f"δ{lt.index}[r,{i}]", f"a{lt.index - 1}[r,{j}]",
                                                 "product"]), hide_index=True, width="content")
    auto = lt.grads["weight"].autograd[i, j].item()
    st.caption(f"The sum {ex.total:.10g} is entry [{i},{j}] of ∂L/∂W{lt.index} in the Backward tab "
               f"(autograd gives {auto:.10g}). Indices count from 0, as in PyTorch.")


def render_graph(t: Trace, spec_json: str) -> None:
    st.caption("The graph autograd recorded while computing the loss (as torchviz draws it): each grey box is "
               "one operation's backward function with the shape of its output, the blue boxes are the "
               "parameters (with value and gradient when small), the green box is the loss. Backprop walks "
               "it from the bottom up. AddmmBackward0 is z = b + a·Wᵀ; TBackward0 is the transpose Wᵀ.")
    st.graphviz_chart(cached_dot(spec_json))
    st.caption("Values and gradients of a matrix are listed row by row (W[0,0], W[0,1], …).")


@honest_axes
def _step_chart(losses: list[float]) -> go.Figure:
    fig = go.Figure(go.Scatter(x=list(range(len(losses))), y=losses, mode="lines+markers"))
    fig.update_layout(height=260, margin=dict(l=10, r=10, t=30, b=10), title="loss after each step",
                      xaxis_title="step", yaxis_title="loss")
    return fig


def render_step(spec: NetworkSpec) -> None:
    st.caption("One optimizer step moves every W and b against its gradient (the manual chain-rule gradient "
               "from the Backward tab), on the same batch every time.")
    if any(layer.type != "linear" for layer in spec.layers):
        st.info("The one-step update is written for linear layers only so far; train this network on the Train "
                "page (its layers string takes bn, ln, dropP and res[…]).")
        return
    c = st.columns(3)
    name = c[0].selectbox("Optimizer", list(LESSON_OPTIMIZERS), key="insp_opt")
    lr = c[1].number_input("Learning rate η", min_value=1e-6, max_value=MAX_LR, value=0.1, format="%.4g",
                           key="insp_lr")
    steps = int(c[2].number_input("Steps for 'repeat'", 1, UI_MAX_STEPS, value=20, step=1, key="insp_steps"))
    st.latex(UPDATE_RULES[name])
    b = st.columns(3)
    one = b[0].button("Apply one step", key="insp_step_one", type="primary")
    many = b[1].button(f"Repeat {steps} steps", key="insp_step_many")
    if one or many:
        try:
            st.session_state["insp_step"] = (spec.to_json(), run_steps(spec, name, float(lr), 1 if one else steps))
        except ValueError as err:
            st.error(f"Could not step: {err}")
    saved = st.session_state.get("insp_step")
    if saved and saved[0] == spec.to_json():
        _step_result(saved[1], b[2])


def _step_result(r, keep_col) -> None:
    keep_col.button("Keep the new weights", key="insp_step_keep", on_click=load_spec, args=(r.spec,),
                    help="continue from here: every view then shows the stepped network")
    if r.diverged:
        st.error(f"The loss or a weight became infinite after step {len(r.losses)}: the learning rate is too "
                 "large. Stopped there; lower η and try again.")
    m = st.columns(3)
    m[0].metric("loss before", f"{r.loss_before:.6g}")
    m[1].metric(f"loss after {len(r.losses) - 1} step(s)", f"{r.loss_after:.6g}",
                delta=f"{r.loss_after - r.loss_before:.3g}", delta_color="inverse")
    if len(r.losses) > 2:
        st.plotly_chart(_step_chart(r.losses), key="insp_step_chart", width="stretch")
    for l, (dw, db, w) in enumerate(zip(r.delta_w, r.delta_b, r.weights, strict=True), start=1):
        cols = st.columns(3)
        with cols[0]:
            show_values(dw, f"ΔW{l} = new − old", key=f"insp_step_dw{l}")
        with cols[1]:
            show_values(db, f"Δb{l}", key=f"insp_step_db{l}")
        with cols[2]:
            show_values(w, f"new W{l}", key=f"insp_step_w{l}")


def sync_query_params(spec: NetworkSpec) -> str:
    """Write the current network into the URL (?spec=…) when the code is short enough; return the code."""
    code = encode_spec(spec)
    if len(code) <= LINK_FRIENDLY_CHARS:
        if st.query_params.get(SHARE_KEY) != code:
            st.query_params[SHARE_KEY] = code
    elif SHARE_KEY in st.query_params:
        del st.query_params[SHARE_KEY]
    return code


def apply_upload(data: bytes) -> str | None:
    """Load an uploaded spec file; returns an error message for st.error, or None when it loaded."""
    try:
        load_spec(spec_from_upload(data))
    except SpecError as err:
        return "That file is not a usable network — " + plain_markdown("; ".join(err.problems), TEXT_CHARS)
    return None


def _on_upload() -> None:
    f = st.session_state.get("insp_upload")
    st.session_state["insp_upload_error"] = apply_upload(f.getvalue()) if f is not None else None


def render_share(spec: NetworkSpec, code: str) -> None:
    base = st.context.url or ""
    if len(code) <= LINK_FRIENDLY_CHARS:
        step = current_step()
        st.caption("This page's address already holds the whole setup — copy it from the browser, or here"
                   + (f" (it opens the diagram's step-through at step {step}):" if step else ":"))
        st.code(f"{base}?{SHARE_KEY}={code}" + (f"&{STEP_KEY}={step}" if step else ""), language=None,
                wrap_lines=True)
    else:
        st.info(f"This network's share code has {len(code):,} characters — too long for a comfortable link. "
                "Download the JSON below and share the file instead.")
    numbers = spec.n_export_numbers  # inner layers of residual blocks included
    if numbers <= MAX_EXPORT_NUMBERS:
        st.download_button("Download spec + weights (JSON)", export_json(spec), file_name="backprop-lab-spec.json",
                           mime="application/json", key="insp_download",
                           help="every W, b, x and y written out, so the file alone reproduces every number")
    else:  # writing out 1 M numbers took 14 s and 30–50 MB on every visit of this tab
        st.caption(f"This network has {numbers:,} weights and data values (the full download is offered up to "
                   f"{MAX_EXPORT_NUMBERS:,}); the spec below is enough: what it does not list is drawn from its seed, "
                   "so it reproduces every number.")
        st.download_button("Download spec (JSON)", spec.to_json(indent=1), file_name="backprop-lab-spec.json",
                           mime="application/json", key="insp_download")
    st.file_uploader("Load a spec JSON", type=["json"], key="insp_upload", on_change=_on_upload)
    error = st.session_state.get("insp_upload_error")
    if error:
        st.error(error)
