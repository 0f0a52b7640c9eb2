"""The Lessons page's parts: reading and writing ?lesson=&step=, the Previous / Next bar, and the live Inspector
or Optimizers state beside a step (the same tables and figures those pages draw)."""
from __future__ import annotations

import streamlit as st

from engine.inspector.share import encode_spec
from engine.inspector.steps import run_steps
from engine.inspector.trace import Trace
from engine.lessons import surfaces as S
from engine.teach.lessons import DESCENT, LESSONS, SGD_LR, Lesson, LessonStep, find_lesson
from ui import optimizer_plots as P
from ui.inspector_views import render_forward
from ui.matrix import show_values
from ui.text import TEXT_CHARS, plain_markdown

LESSON, STEP = "lesson", "step"  # query parameters (step counts from 1)
DESCENT_STEPS = 20  # steps drawn in the descent lesson's figure (the Optimizers page's default)


def read_link() -> str | None:
    """On a session's first run: open the lesson and step the link names. Returns a one-line problem or None."""
    ss = st.session_state
    if ss.get("_lesson_link_read"):
        return None
    ss["_lesson_link_read"] = True
    lesson, k, problem = find_lesson(st.query_params.get(LESSON), st.query_params.get(STEP))
    ss["lesson_key"], ss["lesson_step"] = lesson.key, k
    return problem


def write_link(lesson: Lesson, k: int) -> None:
    for name, value in ((LESSON, lesson.key), (STEP, str(k + 1))):
        if st.query_params.get(name) != value:
            st.query_params[name] = value


def _move(by: int) -> None:
    lesson = LESSONS[st.session_state["lesson_key"]]
    st.session_state["lesson_step"] = min(max(st.session_state["lesson_step"] + by, 0), len(lesson.steps) - 1)


def _restart() -> None:
    st.session_state["lesson_step"] = 0


def render_nav(lesson: Lesson, k: int) -> None:
    n = len(lesson.steps)
    c = st.columns([1, 3, 1])
    c[0].button("◀ Previous", key="lesson_prev", on_click=_move, args=(-1,), disabled=k == 0, width="stretch")
    c[1].progress((k + 1) / n, text=f"Step {k + 1} of {n}: {lesson.steps[k].title}")
    c[2].button("Next ▶", key="lesson_next", on_click=_move, args=(1,), disabled=k == n - 1, width="stretch")


def render_state(lesson: Lesson, step: LessonStep, t: Trace | None, open_: bool) -> None:
    """The live Inspector / Optimizers state for this step, folded until the question is answered or revealed
    (the tables hold the answer)."""
    label = ("The Inspector's numbers for this network" if t is not None else "The Optimizers page's descent") + \
        ("" if open_ else " — they show the answer: predict first")
    with st.expander(label, expanded=open_):
        if step.view == "forward":
            render_forward(t)
        elif step.view == "backward":
            _gradients(t)
        elif step.view == "step":
            _sgd_step(lesson)
        else:
            _descent()
        if t is not None:
            # a relative link (st.page_link needs app.py's navigation, which a page run alone has not got);
            # the code is base64url text, inert in a URL and in markdown
            st.markdown(f"[Open this network in the Inspector](inspector?spec={encode_spec(lesson.spec())})")


def _gradients(t: Trace) -> None:
    """δ_l, ∂L/∂W_l and ∂L/∂b_l of every layer, output layer first (the order backprop computes them)."""
    st.caption("The chain rule's gradients (they equal autograd's; the Inspector's Backward tab compares them). "
               "Indices count from 0.")
    for lt in reversed(t.layers):
        st.markdown(f"**Layer {lt.index}** ({lt.activation}) — input a{lt.index - 1}, W{lt.index} "
                    f"{tuple(lt.weight.shape)}")
        cols = st.columns(4)
        for col, (name, values) in zip(cols, [(f"a{lt.index - 1} (what W{lt.index} receives)", lt.input),
                                              (f"δ{lt.index} = ∂L/∂z{lt.index}", lt.grads["z"].manual),
                                              (f"∂L/∂W{lt.index}", lt.grads["weight"].manual),
                                              (f"∂L/∂b{lt.index}", lt.grads["bias"].manual)], strict=True):
            with col:
                show_values(values, name, key=f"lesson_bw_{lt.index}_{name}")


def _sgd_step(lesson: Lesson) -> None:
    r = run_steps(lesson.spec(), "sgd", SGD_LR, 1)
    st.caption(f"One step of SGD, η = {SGD_LR:g} (the Inspector's Step tab): loss {r.loss_before:.6g} → "
               f"{r.loss_after:.6g}.")
    cols = st.columns(2)
    with cols[0]:
        show_values(r.delta_w[0], "ΔW1 = new − old", key="lesson_dw")
    with cols[1]:
        show_values(r.weights[0], "new W1", key="lesson_w")


def _descent() -> None:
    theta0, lr = DESCENT
    descent = S.descend_1d(theta0, lr, DESCENT_STEPS)
    st.caption(f"θ₀ = {theta0:g}, η = {lr:g}, {DESCENT_STEPS} steps (the Optimizers page's 1-D tab): each dot is "
               "θ_t, each red arrow one step; the star is the minimum θ = 1.")
    left, right = st.columns(2)
    left.plotly_chart(P.cost_curve_figure(descent, S.cost_1d_curve(descent)), key="lesson_cost_curve")
    right.plotly_chart(P.cost_per_step_figure(descent), key="lesson_cost_per_step")


def problem_text(problem: str) -> str:
    return plain_markdown(problem, TEXT_CHARS)
