"""The Inspector's step-through driven headless (AppTest): Next / Previous move the frame, the equation under the
diagram shows the frame's numbers (hand-worked for the single weight: L = 49, ∂L/∂W = −28), and the step is in
the link — a link's step opens there, a crafted one is refused in one line, an old link without one still works."""
from pathlib import Path

from streamlit.testing.v1 import AppTest

from engine.inspector.presets import preset
from engine.inspector.share import decode_spec, encode_spec

PAGE = str(Path(__file__).parents[1] / "pages" / "inspector.py")
LINE = encode_spec(preset("line"))


def _page(step: str | None = None, code: str = LINE) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.query_params["spec"] = code
    if step is not None:
        at.query_params["step"] = step
    at.session_state["insp_tab"] = "Diagram"
    return at.run()


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]


def _heading(at: AppTest) -> str:
    return next(m.value for m in at.markdown if m.value.startswith("**Step "))


def _latex(at: AppTest) -> str:
    return " ".join(m.value for m in at.latex)


def _button(at: AppTest, key: str):
    return next(b for b in at.button if b.key == key)


def test_next_and_previous_walk_the_single_weight():
    at = _page(step="1")
    _ok(at)
    assert _heading(at).startswith("**Step 1 of 9** · forward pass")
    assert r"x = \begin{bmatrix} 2 \end{bmatrix}" in _latex(at)
    for _ in range(3):
        _button(at, "insp_next").click().run()
    _ok(at)
    assert _heading(at).startswith("**Step 4 of 9** · the loss")
    assert r"\begin{bmatrix} 3 \end{bmatrix},\ \begin{bmatrix} 10 \end{bmatrix}\right) = 49" in _latex(at)
    assert at.query_params["step"] == "4"
    for _ in range(3):
        _button(at, "insp_next").click().run()
    assert _heading(at).startswith("**Step 7 of 9** · backward pass · ∂L/∂W1")  # δ·x = (−14)·2
    minus_28 = (r"\begin{bmatrix} -14 \end{bmatrix}\, \begin{bmatrix} 2 \end{bmatrix} \\ &= "
                r"\begin{bmatrix} -28 \end{bmatrix}")
    assert minus_28 in _latex(at)
    _button(at, "insp_prev").click().run()
    assert _heading(at).startswith("**Step 6 of 9** · backward pass · δ1")
    assert at.query_params["step"] == "6"


def test_a_link_opens_at_its_step_and_the_last_step_cannot_go_further():
    at = _page(step="9")
    _ok(at)
    assert _heading(at).startswith("**Step 9 of 9** · backward pass · ∂L/∂x")
    assert _button(at, "insp_next").disabled and not _button(at, "insp_prev").disabled


def test_a_crafted_step_is_refused_in_one_line_and_step_1_is_shown():
    for bad, words in [("abc", "'abc' is not a whole number from 1 to 9"), ("10", "step 10 is outside"),
                       ("0", "step 0 is outside"), ("9" * 40, "is not a whole number")]:
        at = _page(step=bad)
        _ok(at)
        errors = [e.value for e in at.error]
        assert len(errors) == 1 and words in errors[0].replace("\\", "") and "\n" not in errors[0], errors
        assert _heading(at).startswith("**Step 1 of 9**")


def test_an_old_link_without_a_step_shows_the_plain_diagram_and_the_toggle_starts_at_step_1():
    at = _page()
    _ok(at)
    assert not [m for m in at.markdown if m.value.startswith("**Step ")]
    at.toggle(key="insp_stepper").set_value(True).run()
    _ok(at)
    assert _heading(at).startswith("**Step 1 of 9**") and at.query_params["step"] == "1"
    at.toggle(key="insp_stepper").set_value(False).run()
    assert "step" not in at.query_params


def test_the_share_tab_link_carries_the_step():
    at = _page(step="5")
    _button(at, "insp_next").click().run()
    at.session_state["insp_tab"] = "Share"
    at.run()
    _ok(at)
    link = next(c.value for c in at.code if "?spec=" in c.value)
    code, step = link.split("?spec=")[1].split("&step=")
    spec = decode_spec(code)  # the page re-encodes the network it shows: the same single weight
    assert step == "6" and (spec.x, spec.y, spec.layers[0].weight) == ([[2.0]], [[10.0]], [[1.0]])


def test_a_crafted_step_never_reaches_the_share_tab():
    """Opened on the Share tab with ?step=<markdown>: the stepper has not checked it, so the link leaves it out."""
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.query_params["spec"], at.query_params["step"] = LINE, "[x](https://example.com)"
    at.session_state["insp_tab"] = "Share"
    at.run()
    _ok(at)
    shown = [e.value for kind in (at.code, at.caption, at.markdown) for e in kind]
    assert shown and not any("example.com" in v for v in shown)


def test_play_and_pause_set_what_the_button_said():
    """Play starts from this step (or over from the start at the last step) and Pause stops; a click Streamlit
    delivers twice leaves the state as one click did (a flip paused and resumed)."""
    import ui.stepper as stepper
    at = _page("9")  # the single weight's last step
    _ok(at)
    assert "Step 9 of 9" in _heading(at)
    _button(at, "insp_play").click().run()
    _ok(at)
    assert at.session_state[stepper.PLAYING] and "Step 1 of 9" in _heading(at)
    assert "Pause" in _button(at, "insp_play").label
    _button(at, "insp_play").click().run()
    _ok(at)
    assert not at.session_state[stepper.PLAYING] and "Play" in _button(at, "insp_play").label


def test_a_click_delivered_twice_changes_the_state_once(monkeypatch):
    import ui.stepper as stepper
    state = {stepper.PLAYING: True, stepper.FRAME: 4}
    monkeypatch.setattr(stepper.st, "session_state", state)
    stepper._set_playing(False, 15)
    stepper._set_playing(False, 15)
    assert not state[stepper.PLAYING] and state[stepper.FRAME] == 4
    stepper._set_playing(True, 15)
    state["insp_play_fresh"] = False  # the timer's first run took the fresh interval
    stepper._set_playing(True, 15)  # the same Play again: no second fresh interval, no jump
    assert state == {stepper.PLAYING: True, stepper.FRAME: 4, "insp_play_fresh": False}
    state[stepper.PLAYING], state[stepper.FRAME] = False, 14
    stepper._set_playing(True, 15)  # Play at the last step starts over
    assert state[stepper.PLAYING] and state[stepper.FRAME] == 0
