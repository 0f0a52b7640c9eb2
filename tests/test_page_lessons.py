"""pages/lessons.py driven headless: click through a lesson, answer its questions (values by hand), reveal,
and open a step from a link (bad links: one line, no traceback)."""
from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from tests.apptest_pages import assert_ran, open_page

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "lessons.py")
TIMEOUT = 60


def _page(**params) -> AppTest:
    return open_page(PAGE, TIMEOUT, **params)


_ok = assert_ran


def _answer(at: AppTest, text: str) -> AppTest:
    at.text_input[0].input(text).run()
    return next(b for b in at.button if b.label == "Check").click().run()


def _score(at: AppTest) -> str:
    return next(c.value for c in at.caption if c.value.startswith("Score this session"))


def test_clicking_through_the_single_weight_lesson_with_hand_answers():
    # ŷ = 1·2 + 1 = 3; L = (3 − 10)² = 49; ∂L/∂W = 2(3 − 10)·2 = −28; ∂L/∂b = 2(3 − 10) = −14
    at = _page()
    _ok(at)
    for k, answer in enumerate(["3", "49", "-28", "-14"], start=1):
        assert at.query_params["lesson"] == "single-weight" and at.query_params["step"] == str(k)
        at = _answer(at, answer)
        _ok(at)
        assert at.success, f"step {k}: {[e.value for e in at.error + at.warning]}"
        assert _score(at).startswith(f"Score this session: {k} of {k} right")
        if k < 4:
            at = at.button(key="lesson_next").click().run()
    assert at.button(key="lesson_next").disabled


def test_a_named_mistake_and_the_revealed_derivation():
    at = _page(lesson="single-weight", step="3")
    _ok(at)
    assert at.subheader[0].value == "The weight's gradient"
    at = _answer(at, "28")  # 2(y − ŷ)x: the sign of the loss derivative
    assert at.warning and "sign of the loss derivative" in at.warning[0].value
    assert any(r"(-14)\cdot2 = (-28)" in x.value for x in at.latex)  # the derivation after a miss
    at = next(b for b in at.button if b.label == "Reveal").click().run()
    assert any("Answer" in m.value and "-28" in m.value for m in at.markdown)
    assert _score(at).startswith("Score this session: 0 of 1 right")  # the miss counted once


def test_the_previous_button_and_the_lesson_picker():
    at = _page(lesson="descent", step="2")
    _ok(at)
    assert at.subheader[0].value == "One step"
    at = at.button(key="lesson_prev").click().run()
    assert at.subheader[0].value == "The slope" and at.query_params["step"] == "1"
    at = _answer(at, "-28")  # J'(−2) = (28/3)(−2 − 1)
    assert at.success
    at = at.selectbox(key="lesson_key").select("sgd-step").run()
    _ok(at)
    assert at.query_params["lesson"] == "sgd-step" and at.query_params["step"] == "1"


def test_a_bad_link_says_so_in_one_line_and_opens_a_lesson():
    for params in ({"lesson": "<img src=x onerror=alert(1)>"}, {"lesson": "descent", "step": "99"},
                   {"lesson": "descent", "step": "x" * 5000}):
        at = _page(**params)
        _ok(at)
        assert len(at.error) == 1 and "\n" not in at.error[0].value and len(at.error[0].value) < 400
        assert at.subheader[0].value
