"""Inspector: one forward and backward pass of a small network, every gradient three ways, layer by layer."""
import streamlit as st

from ui.bootstrap import ensure_navigation
from ui.inspector_blocks import render_block_tools
from ui.inspector_build import closed_builder_spec, init_state, render_builder, render_presets
from ui.inspector_export import render_export
from ui.inspector_tools import SHARE_KEY, render_graph, render_math, render_share, render_step, sync_query_params
from ui.inspector_views import cached_trace, render_backward, render_diagram, render_forward
from ui.quiz_view import open_quiz_from_link, render_quiz
from ui.text import TEXT_CHARS, plain_markdown

ensure_navigation()

TABS = ["Diagram", "Forward", "Backward", "Math", "Graph", "Step", "Quiz", "Share"]

st.title("Inspector")
st.caption("Build a small network, run one batch through it, and see each layer's forward values and its "
           "gradients computed three ways — the hand-written chain rule, PyTorch autograd and finite "
           "differences. Notation: layer l computes z_l = a_{l-1} W_lᵀ + b_l and a_l = φ_l(z_l), with a₀ = x; "
           "W_l is (out × in) like torch.nn.Linear, batches are rows, and δ_l = ∂L/∂z_l.")

link_error = init_state(st.query_params.get(SHARE_KEY))
if link_error:
    st.error(plain_markdown(link_error, TEXT_CHARS) + ". Showing the default example instead.")

render_presets()
# Lazy: the builder's ~40 widgets run and are drawn only while it is open (a preset click repainted them all)
builder = st.expander("Build or edit the network", expanded=False, key="insp_builder", on_change="rerun")
if builder.open:
    with builder:
        spec, problems = render_builder()
        render_block_tools()
else:
    spec, problems = closed_builder_spec(), []

if problems:
    st.error("This network cannot be built yet — change the settings above:\n\n"
             + "\n".join(f"- {plain_markdown(p, TEXT_CHARS)}" for p in problems))
    st.stop()

spec_json = spec.to_json()
t = cached_trace(spec_json)
code = sync_query_params(spec)
sizes = " → ".join(str(n) for n in spec.sizes)
title = plain_markdown(spec.name) if spec.name else "your network"  # a link's name is text, capped
st.markdown(f"**{title}**: {sizes} · {', '.join(a.activation for a in spec.layers)} · "
            f"loss {spec.loss} = **{t.loss:.6g}** · batch {t.x.shape[0]} · {spec.dtype} · "
            + ("gradients agree :green-badge[✓ pass]" if t.agree else "gradients disagree :red-badge[✗ fail]"))

quiz_error = open_quiz_from_link("insp_tab")
if quiz_error:
    st.error(plain_markdown(quiz_error, TEXT_CHARS) + ". Showing the quiz from its start instead.")
tabs = st.tabs(TABS, key="insp_tab", on_change="rerun")
views = {"Diagram": lambda: render_diagram(t), "Forward": lambda: render_forward(t),
         "Backward": lambda: render_backward(t), "Math": lambda: render_math(t),
         "Graph": lambda: render_graph(t, spec_json), "Step": lambda: render_step(spec),
         "Quiz": lambda: render_quiz(t, spec),
         "Share": lambda: (render_share(spec, code), render_export(spec))}
for tab, name in zip(tabs, TABS, strict=True):
    if tab.open:  # lazy tabs: only the open one runs
        with tab:
            views[name]()
