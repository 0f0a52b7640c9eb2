"""The Activations page's deep-network section: the gradient norm of every linear layer of a deep sigmoid/tanh
net, plain, with BatchNorm and with residual blocks, on one shared log axis (engine.train.depth measures)."""
from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from engine.train.depth import MAX_DEPTH, MAX_STEPS, VARIANTS, DepthProfile, depth_profile
from ui.axes import honest_axes

LABELS = {"plain": "plain", "batchnorm": "with BatchNorm", "residual": "with residual blocks"}


@honest_axes
def depth_figure(profiles: list[DepthProfile], title: str) -> go.Figure:
    """One line per variant: ‖∂L/∂W_l‖ against layer l (1 = next to the input), log y shared by all."""
    fig = go.Figure()
    for p in profiles:
        fig.add_trace(go.Scatter(x=list(range(1, len(p.grad_norms) + 1)), y=p.grad_norms, mode="lines+markers",
                                 name=LABELS[p.variant]))
    fig.update_layout(height=360, margin=dict(l=10, r=10, t=40, b=10), title=title, legend_title_text="network")
    fig.update_xaxes(title="linear layer l (1 = next to the input)", dtick=1)
    fig.update_yaxes(title="‖∂L/∂W_l‖ (Frobenius)", type="log")
    return fig


@st.cache_data(max_entries=16, show_spinner="Training the three networks…")
def _profiles(activation: str, init: str, depth: int, step: int) -> list[DepthProfile]:
    return [depth_profile(v, depth=depth, activation=activation, init=init, step=step) for v in VARIANTS]


def render_depth_section() -> None:
    st.subheader("Deep networks: where the gradient goes")
    st.markdown("Every layer multiplies δ by φ'(z) ≤ 1 (≤ ¼ for the sigmoid), so in a deep plain network the "
                "first layers get a vanishing share of the gradient. BatchNorm keeps each z near unit scale, where "
                "φ' is large; a residual block passes δ through its skip unchanged. Below: the same depth trained "
                "three ways on the moons set (full-batch gradient descent, lr 0.1, seed 0), and each linear "
                "layer's gradient norm at one step.")
    c = st.columns(4)
    act = c[0].selectbox("activation", ["tanh", "sigmoid"], key="depth_act")
    init = c[1].selectbox("init", ["torch", "xavier", "kaiming"], key="depth_init",
                          help="torch: nn.Linear's default U(±1/√fan_in)")
    depth = int(c[2].number_input("hidden layers", 2, MAX_DEPTH, 10, key="depth_n"))
    step = int(c[3].number_input("at step", 1, MAX_STEPS, 100, key="depth_step"))
    if not st.button("Measure", key="depth_go") and not st.session_state.get("depth_shown"):
        return
    st.session_state["depth_shown"] = True
    profiles = _profiles(act, init, depth, step)
    title = f"Gradient norm per layer at step {step} ({depth} {act} layers, moons)"
    st.plotly_chart(depth_figure(profiles, title), key="depth_fig", width="stretch")
    first = ", ".join(f"{LABELS[p.variant]} {p.grad_norms[0]:.3g}" for p in profiles)
    st.caption(f"‖∂L/∂W₁‖ at step {step}: {first}. Layers are counted in run order over linear layers only "
               "(BatchNorm's γ, β and the block sums carry no W).")
