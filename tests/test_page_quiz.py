"""The Inspector's Quiz tab driven headless: a teacher's link opens the same question, right and wrong answers
are graded (answers by hand for the single weight), the session keeps a score, bad links say so in one line."""
from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from engine.inspector.presets import preset
from engine.inspector.share import encode_spec
from tests.apptest_pages import assert_ran, open_page

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "inspector.py")
TIMEOUT = 60
LINE = encode_spec(preset("line"))
# ŷ = W x + b = 1·2 + 1 = 3, y = 10: a₁ = 3, δ₁ = ∂L/∂b₁ = 2(3 − 10) = −14, ∂L/∂W₁ = −14·2 = −28
HAND = {"a_1[0,0]": "3", "δ_1[0,0]": "-14", "∂L/∂b_1[0]": "-14", "∂L/∂W_1[0,0]": "-28",
        "the shape of a_1": "1x1", "the shape of δ_1": "(1, 1)", "the shape of ∂L/∂W_1": "1x1",
        "the shape of ∂L/∂b_1": "(1,)"}


def _page(**params) -> AppTest:
    return open_page(PAGE, TIMEOUT, **params)


_ok = assert_ran


def _asked(at: AppTest) -> str:
    """The hidden quantity's name, read back from the question (markdown-escaped on the page)."""
    text = next(m.value for m in at.markdown if m.value.startswith("**What is"))
    return text.replace("\\", "").removeprefix("**What is ").split("?")[0]


def _answer(at: AppTest, text: str) -> AppTest:
    next(t for t in at.text_input if t.label == "Your answer").input(text).run()
    return next(b for b in at.button if b.label == "Check").click().run()


def test_a_quiz_link_opens_the_quiz_tab_and_grades_the_hand_answer():
    at = _page(spec=LINE, quiz="3", q="2")
    _ok(at)
    assert at.session_state["insp_tab"] == "Quiz"
    assert (at.session_state["quiz_seed"], at.session_state["quiz_n"]) == (3, 2)
    asked = _asked(at)
    at = _answer(at, HAND[asked])
    _ok(at)
    assert at.success, [e.value for e in at.error + at.warning]
    assert any(c.value.startswith("Score this session: 1 of 1 right") for c in at.caption)
    again = _page(spec=LINE, quiz="3", q="2")  # the same link in another session asks the same
    assert _asked(again) == asked


def test_a_wrong_answer_shows_the_derivation_and_the_next_question_resets_it():
    at = _page(spec=LINE, quiz="0", q="1")
    asked = _asked(at)
    wrong = "5x7" if asked.startswith("the shape") else "1234"
    at = _answer(at, wrong)
    assert at.error and not at.success
    assert at.latex, "a miss shows how the element is computed"
    at = next(b for b in at.button if b.label == "Next question").click().run()
    _ok(at)
    assert at.session_state["quiz_n"] == 2 and at.query_params["q"] == "2"
    assert not at.error and not at.success
    assert any(c.value.startswith("Score this session: 0 of 1 right") for c in at.caption)


def test_typed_code_is_text_and_not_graded():
    at = _page(spec=LINE, quiz="0", q="1")
    at = _answer(at, "__import__('os').system('id')")
    _ok(at)
    assert at.error and at.error[0].value.startswith("Not graded")
    assert any(c.value.startswith("Score this session: 0 of 0 right") for c in at.caption)
    at = next(b for b in at.button if b.label == "Reveal").click().run()  # revealing first counts as a miss
    assert any(c.value.startswith("Score this session: 0 of 1 right") for c in at.caption)
    assert any(m.value.startswith("**Answer:") for m in at.markdown) and at.latex


def test_a_bad_quiz_link_says_so_in_one_line():
    for bad in ({"quiz": "x" * 3000}, {"quiz": "1", "q": "0"}, {"quiz": "-5"}):
        at = _page(spec=LINE, **bad)
        _ok(at)
        assert len(at.error) == 1 and "\n" not in at.error[0].value and "whole number" in at.error[0].value
