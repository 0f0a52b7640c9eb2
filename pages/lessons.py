"""Lessons: the worked examples step by step, each step a predict-then-reveal question (?lesson=KEY&step=N)."""
import streamlit as st

from engine.teach.lessons import LESSONS, step_prompt
from ui.bootstrap import ensure_navigation
from ui.choice import label_of
from ui.inspector_views import cached_trace
from ui.lesson_view import problem_text, read_link, render_nav, render_state, write_link
from ui.quiz_view import render_prompt

ensure_navigation()

st.title("Lessons")
st.caption("Guided walks through the worked examples. Each step says what to compute, asks you to predict one "
           "number (or shape), then shows how it is computed with the network's own numbers.")

problem = read_link()
if problem:
    st.error(problem_text(problem) + ". Opened the start of a lesson instead.")

key = st.selectbox("Lesson", list(LESSONS), format_func=label_of({k: v.title for k, v in LESSONS.items()}),
                   key="lesson_key", on_change=lambda: st.session_state.update(lesson_step=0))
lesson = LESSONS[key]
k = min(st.session_state.get("lesson_step", 0), len(lesson.steps) - 1)
write_link(lesson, k)
render_nav(lesson, k)

step = lesson.steps[k]
st.subheader(step.title)
st.markdown(step.text)
t = cached_trace(lesson.spec().to_json()) if lesson.preset else None
g = render_prompt(step_prompt(lesson, k, t), "lesson", f"{lesson.key}:{k}")
answered = bool(st.session_state["lesson_state"]["revealed"]) or (g is not None and g.correct)
render_state(lesson, step, t, answered)
