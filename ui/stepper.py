"""The Inspector's step-through on the diagram: Previous / Next / Play over engine.teach's frames, the diagram
at the current frame (ui.stepper_figure) and the frame's equation with shapes and with numbers under it.

The step lives in the link (?step=N, counted from 1) so a teacher can hand out "step 7 of this network".
Play reruns only the stepper, as a fragment with run_every; Play, Pause and the speed rerun the page, since a
fragment's interval is fixed when it is drawn.
"""
from __future__ import annotations

import streamlit as st

from engine.core.spec import MAX_UNITS
from engine.inspector.share import decode_step, encode_step
from engine.inspector.spec import SpecError
from engine.inspector.trace import Trace
from engine.teach.frames import Frame, Selection, frames
from engine.teach.numbers import SMALL
from ui.stepper_figure import frame_figure
from ui.text import TEXT_CHARS, plain_markdown

STEP_KEY = "step"  # the query parameter that carries the step
SPEEDS = {"slow": 3.0, "medium": 1.5, "fast": 0.7}  # seconds per step while playing
FRAME, PLAYING, ON = "insp_frame", "insp_playing", "insp_stepper"
PHASE_WORDS = {"forward": "forward pass", "loss": "the loss", "backward": "backward pass"}


def stepper_requested() -> bool:
    """The stepper starts on when the link names a step (its toggle's default)."""
    return STEP_KEY in st.query_params


def current_step() -> str | None:
    """The step the link should carry ("7"), from the stepper's own state (never the raw address): None when
    the step-through is off or has not run yet."""
    ss = st.session_state
    return encode_step(ss[FRAME]) if ss.get(ON) and FRAME in ss else None


def stop_stepping() -> None:
    """The stepper is off: the link no longer names a step."""
    st.session_state.pop(PLAYING, None)
    if STEP_KEY in st.query_params:
        del st.query_params[STEP_KEY]


def _start(n: int) -> None:
    """The first frame to show: the link's step on the session's first stepper run, else the one kept."""
    ss = st.session_state
    if FRAME in ss:
        ss[FRAME] = min(max(ss[FRAME], 0), n - 1)  # another network may have fewer frames
        return
    ss[FRAME] = 0
    text = st.query_params.get(STEP_KEY)
    if text is not None:
        try:
            ss[FRAME] = decode_step(text, n)
        except SpecError as err:
            ss["insp_step_error"] = "; ".join(err.problems) + "; showing step 1 instead."


def _move(by: int, n: int) -> None:
    ss = st.session_state
    ss[FRAME] = min(max(ss.get(FRAME, 0) + by, 0), n - 1)


def _set_playing(play: bool, n: int) -> None:
    """What the clicked button said (Play or Pause), not a flip of the current state: a click Streamlit delivers
    twice (a trigger kept across the fragment's timer rerun and the full rerun) must not pause and resume."""
    ss = st.session_state
    if play == bool(ss.get(PLAYING)):
        return  # the same click again: nothing changes
    if play and ss.get(FRAME, 0) >= n - 1:
        ss[FRAME] = 0  # play at the last step starts over
    ss[PLAYING] = ss["insp_play_fresh"] = play  # fresh: this run shows the step as it is (no timer move)


def render_stepper(t: Trace, sample: int) -> None:
    ss = st.session_state
    c = st.columns([1, 1, 2])
    unit = col = 0
    if max(t.spec.sizes + [t.x.shape[0]]) > SMALL:  # some tensor is shown one element at a time
        unit = int(c[0].number_input("unit i", 0, MAX_UNITS - 1, step=1, key="insp_step_unit",
                                     help="in layers too large to write out whole: the output unit (row of W) shown"))
        col = int(c[1].number_input("input j", 0, MAX_UNITS - 1, step=1, key="insp_step_col",
                                    help="… and the input unit (column of W) shown"))
    c[2].select_slider("Play speed", list(SPEEDS), value="medium", key="insp_speed",
                       help="seconds per step: slow 3 s, medium 1.5 s, fast 0.7 s")
    fs = frames(t, Selection(sample, unit, col))
    _start(len(fs))
    error = ss.pop("insp_step_error", None)
    if error:
        st.error(plain_markdown(error, TEXT_CHARS))
    interval = SPEEDS[ss.get("insp_speed", "medium")] if ss.get(PLAYING) else None
    st.fragment(_stepper_view, run_every=interval)(t, fs, sample)


def _stepper_view(t: Trace, fs: list[Frame], sample: int) -> None:
    ss, n = st.session_state, len(fs)
    if ss.get(PLAYING) and not ss.pop("insp_play_fresh", False):  # each timer run while playing: one step on
        if ss[FRAME] >= n - 1:
            ss[PLAYING] = False
            st.rerun()  # the whole page, so the fragment is drawn again without its timer
        ss[FRAME] += 1
    k = ss[FRAME]
    if st.query_params.get(STEP_KEY) != encode_step(k):
        st.query_params[STEP_KEY] = encode_step(k)
    f = fs[k]
    c = st.columns([1, 1, 1, 5])
    c[0].button("◀ Previous", key="insp_prev", on_click=_move, args=(-1, n), disabled=k == 0, width="stretch")
    c[1].button("Next ▶", key="insp_next", on_click=_move, args=(1, n), disabled=k == n - 1, width="stretch")
    playing = bool(ss.get(PLAYING))
    if c[2].button("⏸ Pause" if playing else "▶ Play", key="insp_play", width="stretch", on_click=_set_playing,
                   args=(not playing, n)):
        ss["insp_play_fresh"] = ss[PLAYING]  # and the full rerun too: a whole interval before the first move
        st.rerun()  # the whole page: the fragment's timer starts or stops with the new state
    c[3].markdown(f"**Step {k + 1} of {n}** · {PHASE_WORDS[f.phase]} · {f.title}")
    st.plotly_chart(frame_figure(t, fs, k, sample), key="insp_step_fig", width="stretch")
    st.caption("Gold: what this step computes. Grey: not computed yet. "
               + ("Units show the newest gradient at their layer (∂L/∂a, then δ), edges ∂L/∂W once computed."
                  if f.phase == "backward" else "Units show the newest value at their layer (z, then a), edges W "
                  "once their layer has run.") + f" Numbers on the units are sample {sample}'s.")
    st.caption(f.caption)
    st.latex(f.equation)
    st.latex(f.numbers)
    if f.uses:
        st.latex(r"\text{from: }" + r",\ ".join(f.uses))
