"""How often a run's health was recorded, and filling in every step (an exact replay, engine/train/health_fill.py)
while the page shows what the run recorded. The fill runs through the server's job queue like a training."""
from __future__ import annotations

import streamlit as st

from engine.store.runs import StoreError
from engine.train.checkpoints import ReplayError
from engine.train.fill_job import fill_job, start_fill
from engine.train.health_fill import fill_info, needs_fill
from ui.session import alive_check, session_id
from ui.text import TEXT_CHARS, plain_markdown


def fill_caption(info: dict) -> str:
    every = "every step" if info["every"] == 1 else f"every {info['every']}th step"
    return (f"Health at {every} ({info['steps']:,} steps), filled in after the run by an exact replay of it "
            "(the training itself records every k-th step, to stay fast).")


def fill_section(store, run_id: str) -> None:
    """A caption saying how the health below was recorded; starts the fill when the run has none yet."""
    try:
        info = fill_info(store, run_id)
        if info is not None:
            st.caption(fill_caption(info))
            return
        if not needs_fill(store, run_id):
            st.caption("Health recorded at every step during the run.")
            return
        if fill_job(store.path, run_id) is None:
            sid = session_id()
            start_fill(store, run_id, owner=sid, alive=alive_check(sid))
    except (StoreError, ReplayError, ValueError) as err:  # QueueFull is a ValueError
        st.caption(f"Health as recorded during the run (every k-th step); not filled in: "
                   f"{plain_markdown(err, TEXT_CHARS)}")
        return
    _fill_progress(str(store.path), run_id)


@st.fragment(run_every=1.0)
def _fill_progress(path: str, run_id: str) -> None:
    job = fill_job(path, run_id)
    if job is None:
        return
    snap = job.snapshot()
    if snap.status == "done":
        st.rerun()  # the whole page: the heatmaps below now read the filled-in statistics
    if snap.status in ("failed", "stopped"):
        st.caption("Health as recorded during the run (every k-th step); filling in every step did not finish: "
                   f"{plain_markdown(snap.message, TEXT_CHARS)}")
        if st.button("Try filling in again", key=f"fill_again_{run_id}"):
            try:
                start_fill(job.store, run_id, owner=job.owner, alive=job.alive)
            except ValueError as err:  # QueueFull: the server is busy
                st.warning(plain_markdown(err, TEXT_CHARS))
        return
    queued = job.position is not None
    where = f"queued (position {job.position})" if queued else f"{snap.done:,} of {snap.total:,} steps"
    st.progress(snap.done / snap.total if snap.total else 0.0,
                text=f"Below: health as recorded during the run (every k-th step). Filling in every step by an "
                     f"exact replay of the run: {where}")
