"""The replay view of a stored run (a step slider) and its branch form; used on the Compare page."""
from __future__ import annotations

import streamlit as st

from engine.store.runs import RunStore, StoreError
from engine.train import checkpoints
from engine.train.background import QUEUE
from engine.train.branch import prepare_branch
from engine.train.checkpoints import ReplayError
from engine.train.config import OPTIMIZER_NAMES, ConfigError
from engine.train.health_fill import health_stats
from engine.train.health_map import health_maps
from engine.train.jobs import JOBS, start_job
from engine.train.replay import last_step, replay
from ui import replay_plots as rp
from ui.choice import choose_one
from ui.health_fill_view import fill_section
from ui.owner import session_owner
from ui.replay_family import family_section, multiples_section
from ui.replay_step_views import step_views
from ui.session import alive_check, session_id
from ui.text import TEXT_CHARS, plain_markdown

REPLAYABLE = ("finished", "stopped", "diverged")
BRANCH_JOB, BRANCH_NOTE = "branch_job", "branch_note"  # session state: the queued branch and what it starts from
BRANCH_DONE = "branch_done"  # (ok, message) of the branch that just ended, shown once


def replay_section(store, runs, shown: list[str], colors: dict[str, str]) -> None:
    st.subheader("Replay a run step by step, or branch it")
    done = runs[runs["status"].isin(REPLAYABLE)]
    if done.empty:
        st.info("Replay needs a finished or stopped run.")
        return
    names = dict(zip(done["run_id"], done["name"], strict=True))
    ids = list(reversed(done["run_id"].tolist()))
    multiples_section(store, [r for r in shown if r in names], names)
    run_id = choose_one(st, "Run to replay", {r: f"{names[r]} ({r})" for r in ids}, key="replay_run")
    try:
        end = last_step(store.run(run_id))
        lin = checkpoints.lineage(store, run_id)
        if st.session_state.setdefault("replay_step", end) > max(end, 1):
            st.session_state["replay_step"] = end
        step = st.slider("Step t", 0, max(end, 1), key="replay_step")
        state = replay(store, run_id, min(step, end))
    except (ReplayError, StoreError, ValueError) as err:
        st.error(f"This run cannot be replayed: {err}")
        return
    if lin["parent_id"]:
        st.caption(f"A branch of {lin['parent_id']} at step {lin['branch_step']}; before it, the parent's steps.")
    family_section(store, run_id, names, colors)
    _views(store, run_id, state, lin)
    _branch_form(store, run_id, state.step, state.cfg)


def _views(store, run_id: str, state, lin: dict) -> None:
    step_views(state, store.steps([run_id]), "replay", lin["branch_step"])
    fill_section(store, run_id)
    maps = health_maps(health_stats(store, [run_id]), run_id)
    st.plotly_chart(rp.health_heatmaps_figure(maps), key="replay_health")


def _branch_form(store, run_id: str, step: int, cfg) -> None:
    with st.form("branch_form"):
        st.markdown(f"**Branch from step {step}**: same weights and batch order; the optimizer state is kept "
                    "when the optimizer stays the same, fresh when it changes.")
        c1, c2, c3, c4 = st.columns(4)
        changes = {"optimizer": c1.selectbox("Optimizer", OPTIMIZER_NAMES, OPTIMIZER_NAMES.index(cfg.optimizer)),
                   "lr": c2.number_input("Learning rate", 1e-6, 100.0, float(cfg.lr), format="%.4g"),
                   "batch_size": c3.number_input("Batch size", 1, 100_000,
                                                 32 if cfg.batch_size == "full" else int(cfg.batch_size)),
                   "epochs": c4.number_input("Epochs (counted from the parent's start)", 1, 500, int(cfg.epochs))}
        submitted = st.form_submit_button("Branch")
    if submitted:
        _start_branch(store, run_id, step, {k: (int(v) if k in ("batch_size", "epochs") else v)
                                            for k, v in changes.items()})
    if BRANCH_JOB in st.session_state:
        _branch_progress()
    elif BRANCH_DONE in st.session_state:
        ok, text = st.session_state.pop(BRANCH_DONE)
        (st.success if ok else st.warning)(text)


def _start_branch(store, run_id: str, step: int, changes: dict) -> None:
    """Through the server's job queue, like any training: its caps and per-session bounds apply."""
    job = JOBS.get(st.session_state.get(BRANCH_JOB, ""))
    if job is not None and not job.done:
        st.warning("A branch is still training; wait for it (or cancel it) before starting another.")
        return
    try:
        b = prepare_branch(store, run_id, step, changes)
        sid = session_id()
        job_id = start_job(b.cfg, RunStore(store.path, owner=session_owner()), data=b.data, owner=sid,
                           alive=alive_check(sid), resume=b.state, parent=(run_id, step))
    except (ReplayError, ConfigError, StoreError, ValueError) as err:  # QueueFull is a ValueError
        st.error(f"The branch was not started: {plain_markdown(err, TEXT_CHARS)}")
        return
    st.session_state[BRANCH_JOB], st.session_state[BRANCH_NOTE] = job_id, b.note


@st.fragment(run_every=1.0)
def _branch_progress() -> None:
    job = JOBS.get(st.session_state.get(BRANCH_JOB, ""))
    if job is None:
        return
    snap, note = job.snapshot(), st.session_state.get(BRANCH_NOTE, "")
    if job.position is not None:
        st.info(f"Branch queued: position {job.position} — the server trains {QUEUE.limits.max_jobs} runs at "
                f"once ({QUEUE.limits.max_jobs_per_session} per session).")
        st.button("Cancel the branch", on_click=job.stop, key="branch_cancel")
    elif not job.done:
        st.progress(min(snap.step / max(snap.total_steps, 1), 1.0), text=f"Branch training: step {snap.step} ({note})")
        st.button("Stop the branch", on_click=job.stop, key="branch_stop")
    else:
        stored = f"stored as run {snap.run_id}" if snap.run_id else "not stored"
        text = f"Branch {stored} ({plain_markdown(note, TEXT_CHARS)}): {plain_markdown(snap.message, TEXT_CHARS)}."
        st.session_state[BRANCH_DONE] = (snap.status == "finished", text)
        st.session_state.pop(BRANCH_JOB)
        st.rerun()  # the runs table and the family picture now include it
