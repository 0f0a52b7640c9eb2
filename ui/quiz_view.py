"""Predict, then reveal, on screen: one question with an answer box, Check and Reveal, the derivation after a
miss or a reveal, and the session's score. The Inspector's Quiz tab and the Lessons page both draw it."""
from __future__ import annotations

import streamlit as st

from engine.inspector.share import LINK_FRIENDLY_CHARS, encode_spec
from engine.inspector.spec import NetworkSpec
from engine.inspector.trace import Trace
from engine.teach.quiz import (
    MAX_ANSWER_CHARS,
    MAX_QUESTION,
    MAX_SEED,
    Grade,
    Prompt,
    draw_question,
    grade,
    make_prompt,
    parse_quiz_ref,
)
from ui.text import TEXT_CHARS, plain_markdown

SCORE = "quiz_score"  # session state: [right, asked]; each question counts once, at its first graded answer
QUIZ_KEY, NUMBER_KEY = "quiz", "q"  # the link's query parameters


def score() -> tuple[int, int]:
    right, asked = st.session_state.get(SCORE, (0, 0))
    return right, asked


def _count(correct: bool) -> None:
    right, asked = score()
    st.session_state[SCORE] = (right + int(correct), asked + 1)


def render_prompt(p: Prompt, key: str, qid: str) -> Grade | None:
    """The question, an answer box, Check and Reveal; what was said stays until the question (qid) changes."""
    state = st.session_state.get(f"{key}_state")
    if not state or state["qid"] != qid:
        state = st.session_state[f"{key}_state"] = {"qid": qid, "grade": None, "revealed": False, "counted": False}
    st.markdown(f"**{plain_markdown(p.ask, TEXT_CHARS)}**")
    st.caption(p.tolerance_note()[0].upper() + p.tolerance_note()[1:] + ".")
    text = st.text_input("Your answer", key=f"{key}_answer_{qid}", max_chars=MAX_ANSWER_CHARS,
                         placeholder="e.g. 2x3" if p.is_shape else "e.g. -0.25")
    c = st.columns([1, 1, 4])
    if c[0].button("Check", key=f"{key}_check_{qid}", type="primary"):
        state["grade"] = grade(p, text or "")
        if state["grade"].graded and not state["counted"]:
            _count(state["grade"].correct)
            state["counted"] = True
    if c[1].button("Reveal", key=f"{key}_reveal_{qid}"):
        state["revealed"] = True
        if not state["counted"]:
            _count(False)
            state["counted"] = True
    g = state["grade"]
    if g is not None:
        (st.success if g.correct else st.warning if g.mistake else st.error)(plain_markdown(g.message, TEXT_CHARS))
    if state["revealed"] or (g is not None and g.graded and not g.correct):
        _derivation(p, state["revealed"])
    right, asked = score()
    st.caption(f"Score this session: {right} of {asked} right (a question counts once, at its first checked "
               "answer; revealing before answering counts as a miss).")
    return g


def _derivation(p: Prompt, with_answer: bool) -> None:
    with st.container(border=True):
        if with_answer:
            answer = p.expected if p.is_shape else f"{p.expected + 0.0:.6g}"
            st.markdown(f"**Answer: {plain_markdown(str(answer))}** — how it is computed:")
        else:
            st.markdown("**How it is computed** (with this network's numbers):")
        for e in p.derivation:
            st.caption(e.caption)
            st.latex(e.latex)


def open_quiz_from_link(tab_key: str) -> str | None:
    """On a session's first run with ?quiz=… in the link: set the quiz seed and question, open the Quiz tab.
    Returns a one-line problem with the link, or None."""
    ss, qp = st.session_state, st.query_params
    if ss.get("_quiz_link_read") or QUIZ_KEY not in qp:
        return None
    ss["_quiz_link_read"] = True
    try:
        ss["quiz_seed"], ss["quiz_n"] = parse_quiz_ref(qp.get(QUIZ_KEY), qp.get(NUMBER_KEY))
    except ValueError as err:
        return str(err)
    ss[tab_key] = "Quiz"
    return None


def _next_question() -> None:
    st.session_state["quiz_n"] = min(int(st.session_state.get("quiz_n", 1)) + 1, MAX_QUESTION)


def render_quiz(t: Trace, spec: NetworkSpec) -> None:
    """The Inspector's Quiz tab: question n of quiz `seed` on this network, and the link that gives it to a class."""
    st.caption("Predict, then reveal: the app hides one number (or shape) of this network's forward or backward "
               "pass. Work it out from the other tabs' numbers, type it, and check. The quiz seed and question "
               "number pick the question, so the same link gives a whole class the same quiz.")
    c = st.columns([1, 1, 1])
    seed = int(c[0].number_input("Quiz seed", 0, MAX_SEED, step=1, key="quiz_seed"))
    number = int(c[1].number_input("Question", 1, MAX_QUESTION, step=1, key="quiz_n"))
    c[2].button("Next question", key="quiz_next", on_click=_next_question, disabled=number >= MAX_QUESTION)
    try:
        q = draw_question(t, seed, number)
    except ValueError as err:
        st.info(f"No quiz for this network: {err}.")
        return
    code = encode_spec(spec)
    link = {QUIZ_KEY: str(seed), NUMBER_KEY: str(number)}
    for k, v in link.items():
        if st.query_params.get(k) != v:
            st.query_params[k] = v
    if len(code) <= LINK_FRIENDLY_CHARS:
        st.caption("Link to this question (the network included):")
        st.code(f"{st.context.url or ''}?spec={code}&{QUIZ_KEY}={seed}&{NUMBER_KEY}={number}", language=None,
                wrap_lines=True)
    else:
        st.caption(f"This network is too large for a link (Share tab: download its JSON); give the class quiz seed "
                   f"{seed}, question {number} with it.")
    render_prompt(make_prompt(t, q), "quiz", f"{hash(code)}:{seed}:{number}")
