"""Activations: each φ and φ' plotted, hand-written against torch, with the regions where gradients die."""
from __future__ import annotations

import streamlit as st

from engine.core.ops import ACTIVATIONS
from engine.lessons import activations as A
from ui import activation_plots as P
from ui.bootstrap import ensure_navigation
from ui.depth_view import render_depth_section

ensure_navigation()

ELEMENTWISE = [name for name, act in ACTIVATIONS.items() if act.elementwise]
THRESHOLDS = [0.001, 0.01, 0.05, 0.1]


@st.cache_data(max_entries=32)
def _curve(name: str, threshold: float) -> A.ActivationCurve:
    return A.activation_curve(name, threshold)


@st.cache_data(max_entries=4)
def _softmax() -> A.SoftmaxCurve:
    return A.softmax_curve()


def _region_text(curve: A.ActivationCurve) -> str:
    if not curve.regions:
        return "No dead or saturated region on [−6, 6]."
    return "Shaded: " + "; ".join(f"{r.kind} for z ∈ [{r.lo:g}, {r.hi:g}]" for r in curve.regions) + "."


def show_activation(name: str, threshold: float) -> None:
    """Formula, the two curves, the largest differences from torch, and what φ' does to gradients."""
    curve = _curve(name, threshold)
    st.latex(ACTIVATIONS[name].latex)
    m1, m2 = st.columns(2)
    m1.metric("max |φ − torch| on the grid", f"{curve.max_diff_phi:.1e}")
    m2.metric("max |φ' − autograd| on the grid", f"{curve.max_diff_dphi:.1e}")
    st.plotly_chart(P.activation_figure(curve), key=f"fig_{name}")
    st.markdown(f"**What it does to gradients:** {A.GRADIENT_NOTES[name]}")
    st.caption(_region_text(curve))


def show_softmax() -> None:
    """Softmax is not elementwise: one logit varies, the Jacobian column ∂a_j/∂z₁ is plotted."""
    curve = _softmax()
    st.latex(ACTIVATIONS["softmax"].latex)
    z2, z3 = curve.others
    st.markdown("Softmax mixes all units, so it has a Jacobian, not a single φ'. Here z₁ = z varies while "
                f"z₂ = {z2:g} and z₃ = {z3:g} stay fixed. Raising z₁ raises a₁ at a rate a₁(1 − a₁) — at most "
                "0.25, like the sigmoid — and "
                "takes the same probability mass from the others (∂a_j/∂z₁ = −a_j a₁), so each column sums to 0.")
    m1, m2 = st.columns(2)
    m1.metric("max |a − torch.softmax| on the grid", f"{curve.max_diff_a:.1e}")
    m2.metric("max |∂a/∂z₁ − autograd| on the grid", f"{curve.max_diff_jac:.1e}")
    st.plotly_chart(P.softmax_figure(curve), key="fig_softmax")
    st.markdown("**What it does to gradients:** when one logit dominates, every a_j is near 0 or 1 and the whole "
                "Jacobian is near 0 — softmax saturates. Paired with cross-entropy the product collapses to "
                "δ = (a − onehot)/B, which stays large when the prediction is confidently wrong.")


st.title("Activations and their derivatives")
st.markdown(
    "Backprop multiplies the upstream gradient by φ'(z) at every unit: δ = ∂L/∂a ⊙ φ'(z). Where φ' is 0 the "
    "gradient stops; where it is tiny it all but vanishes. Each tab draws the hand-written φ and φ' from "
    "`engine.core.ops` (solid) over torch's own function and its autograd derivative (dotted), on "
    f"{A.N_POINTS} points of z ∈ [−6, 6] in float64."
)
threshold = st.select_slider("Shade as saturated where |φ'(z)| <", THRESHOLDS, value=A.SATURATION, key="threshold")
# Lazy tabs: only the open one runs and is sent, so the page draws one figure, not six hidden ones (~480 KB)
tabs = st.tabs([*ELEMENTWISE, "softmax"], key="act_tab", on_change="rerun")
for tab, name in zip(tabs, [*ELEMENTWISE, "softmax"], strict=True):
    if tab.open:
        with tab:
            show_softmax() if name == "softmax" else show_activation(name, threshold)
render_depth_section()
