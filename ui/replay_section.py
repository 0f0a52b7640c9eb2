"""The replay view of a stored run (a step slider) and its branch form; used on the Compare page."""
from __future__ import annotations

import streamlit as st

from engine.store.runs import StoreError
from engine.train import checkpoints
from engine.train.boundary import grid_bounds
from engine.train.branch import prepare_branch
from engine.train.checkpoints import ReplayError
from engine.train.config import OPTIMIZER_NAMES, ConfigError
from engine.train.health_map import health_maps
from engine.train.loop import train
from engine.train.model import targets
from engine.train.recorder import record
from engine.train.replay import last_step, replay
from engine.train.replay_views import input_gradients, neuron_maps
from ui import replay_plots as rp

REPLAYABLE = ("finished", "stopped", "diverged")
MAX_ARROWS = 300  # points drawn with their ∂ℓ/∂x arrow


def replay_section(store, runs) -> None:
    st.subheader("Replay a run step by step, or branch it")
    done = runs[runs["status"].isin(REPLAYABLE)]
    if done.empty:
        st.info("Replay needs a finished or stopped run.")
        return
    names = dict(zip(done["run_id"], done["name"], strict=True))
    ids = list(reversed(done["run_id"].tolist()))
    run_id = st.selectbox("Run to replay", ids, format_func=lambda r: f"{names[r]} ({r})", key="replay_run")
    try:
        end = last_step(store.run(run_id))
        lin = checkpoints.lineage(store, run_id)
        step = st.slider("Step t", 0, max(end, 1), end, key="replay_step")
        state = replay(store, run_id, min(step, end))
    except (ReplayError, StoreError, ValueError) as err:
        st.error(f"This run cannot be replayed: {err}")
        return
    if lin["parent_id"]:
        st.caption(f"A branch of {lin['parent_id']} at step {lin['branch_step']}; before it, the parent's steps.")
    _views(store, run_id, state, lin)
    _branch_form(store, run_id, state.step, state.cfg)


def _views(store, run_id: str, state, lin: dict) -> None:
    steps = store.steps([run_id])
    if "loss" in steps.columns:
        st.plotly_chart(rp.loss_at_step_figure(steps["step"].tolist(), steps["loss"].tolist(), state.step,
                                               lin["branch_step"]), key="replay_loss")
    data = state.data
    if data.input_size == 2:
        bounds = grid_bounds(data.x_train)
        st.plotly_chart(rp.neuron_maps_figure(neuron_maps(state.model, bounds)), key="replay_maps")
        x, y = data.x_train[:MAX_ARROWS], data.y_train[:MAX_ARROWS]
        grad = input_gradients(state.model, state.cfg.loss, x, targets(state.cfg, data, y))
        st.plotly_chart(rp.arrows_figure(x.numpy(), y.numpy(), grad.numpy()), key="replay_arrows")
    maps = health_maps(store.layer_stats([run_id]), run_id)
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
    if not submitted:
        return
    try:
        b = prepare_branch(store, run_id, step, {k: (int(v) if k in ("batch_size", "epochs") else v)
                                                  for k, v in changes.items()})
        new_id = None
        with st.spinner(b.note):
            for ev in record(train(b.cfg, data=b.data, resume=b.state), store, b.cfg, parent=(run_id, step)):
                if ev.kind == "start":
                    new_id = ev.data.get("run_id")
    except (ReplayError, ConfigError, StoreError, ValueError) as err:
        st.error(f"The branch was not started: {err}")
        return
    st.success(f"Branch {new_id} stored ({b.note}).")
