"""Replay a finished or stopped run on the Train page: a step slider with play/pause and, at step t, the network
diagram (weights or gradients) and per-layer histograms, on colour scales and ranges shared by the whole run (runs
of linear layers), then the loss with t marked and, for 2-D sets, the boundary, unit maps and ∂ℓ/∂x arrows
(ui.replay_step_views, shared with Compare's replay).

A frame recomputes from the previous one (engine.train.replay.replay_from), so playing forward trains each step
once; the data is one server-wide copy per dataset (st.cache_resource), never one per session.
"""
from __future__ import annotations

import json
import math

import streamlit as st

from engine.core.spec import LayerSpec
from engine.inspector.spec import NetworkSpec
from engine.inspector.trace import trace
from engine.store.runs import StoreError
from engine.train.checkpoints import ReplayError, data_fingerprint
from engine.train.config import TrainConfig
from engine.train.health_fill import health_stats
from engine.train.health_map import run_scales
from engine.train.loop import load_data
from engine.train.replay import Replayed, last_step, next_batch, replay_from
from ui import replay_plots as rp
from ui.inspector_build import load_spec
from ui.network_diagram import network_figure
from ui.replay_step_views import step_views
from ui.text import TEXT_CHARS, plain_markdown

PLAY_SECONDS = 0.8  # one frame while playing
FRAMES = 60  # a playthrough shows about this many frames: stride ⌈steps / FRAMES⌉
BATCH_ROWS = 256  # rows of step t + 1's batch the diagram's gradients use (all of a batch up to this)
INSPECTOR_ROWS = 8  # rows of that batch the Inspector opens with (its table and three-way check stay quick)


@st.cache_resource(max_entries=2, show_spinner="Loading the run's data …")
def _dataset(fingerprint: str, _cfg: TrainConfig):
    """One copy per dataset (keyed by what identifies the data, not by the optimizer) for every session."""
    return load_data(_cfg)


def spec_at_step(rep: Replayed, max_rows: int) -> NetworkSpec:
    """The run's network after step t with every parameter explicit, on (up to max_rows of) the batch step
    t + 1 trains on: its Inspector trace's ∂L/∂W is the gradient that step applies (float32, as trained)."""
    x, _, target = next_batch(rep, max_rows)
    layers = [LayerSpec(spec.units, spec.activation, weight=m.weight.detach().cpu().tolist(),
                        bias=m.bias.detach().cpu().tolist())
              for spec, m in zip(rep.cfg.layer_specs, rep.model.linears, strict=True)]
    return NetworkSpec(input_size=x.shape[1], layers=layers, loss=rep.cfg.loss, init=rep.cfg.init, seed=rep.cfg.seed,
                       dtype="float32", batch=len(x), x=x.tolist(), y=target.tolist(),
                       name=f"run {rep.run_id} after step {rep.step}")


def replay_player(store, run_id: str) -> None:
    ss = st.session_state
    try:
        end = last_step(store.run(run_id))
    except (ReplayError, StoreError) as err:
        st.info(f"Replay: {plain_markdown(err, TEXT_CHARS)}")
        return
    layers = TrainConfig.from_dict(store.run(run_id)["config"]).layer_specs
    other = sorted({layer.type for layer in layers} - {"linear"})
    key = f"player_{run_id}"
    ss.setdefault(f"{key}_t", end)
    playing = bool(ss.get(f"{key}_play"))
    stride = max(1, math.ceil(end / FRAMES))
    c1, c2 = st.columns([1, 3])
    c1.button("⏸ Pause" if playing else "▶ Play", key=f"{key}_toggle", on_click=_set_playing,
              args=(key, end, not playing))
    gradients = False
    if other:  # the step-t diagram, histograms and Inspector spec read W and b of linear layers
        st.caption(f"The network diagram, its histograms and the Inspector take linear layers; this run has "
                   f"{', '.join(other)} layers, so step t shows the views below without them.")
    else:
        gradients = c2.radio("Edges and right-hand histograms show", ["weights W", "gradients ∂L/∂W"],
                             horizontal=True, key=f"{key}_mode").startswith("gradients")
    st.caption(f"Play moves {stride} step{'s' if stride > 1 else ''} a frame from where the slider is; drag the "
               "slider to any step. Step t shows the weights after t steps and the gradient step t + 1 takes "
               "(on its batch).")

    @st.fragment(run_every=PLAY_SECONDS if playing else None)
    def frame() -> None:
        if ss.get(f"{key}_play"):
            ss[f"{key}_t"] = min(ss[f"{key}_t"] + stride, end)
        t = st.slider("Step t", 0, end, key=f"{key}_t")
        rep = _replayed(store, run_id, key, t)
        if rep is not None:
            if not other:
                _diagram(store, run_id, key, rep, gradients)
            if f"{key}_steps" not in ss:  # a stored run's steps do not change: read them once per session
                ss[f"{key}_steps"] = store.steps([run_id])
            playing_now = bool(ss.get(f"{key}_play"))
            step_views(rep, ss[f"{key}_steps"], key, maps=not playing_now)
            if playing_now:
                st.caption("Each unit's output over the input plane is drawn when the replay is paused.")
        if ss.get(f"{key}_play") and t >= end:
            ss[f"{key}_play"] = False
            st.rerun()  # a full rerun draws the fragment without run_every: polling stops

    frame()


def _set_playing(key: str, end: int, play: bool) -> None:
    """What the clicked button said (Play or Pause), not a flip of the current state: a click Streamlit delivers
    twice (a trigger kept across a fragment's auto-rerun and the full rerun) must not pause and resume."""
    ss = st.session_state
    ss[f"{key}_play"] = play
    if play and ss.get(f"{key}_t", 0) >= end:
        ss[f"{key}_t"] = 0  # play at the end starts over


def _replayed(store, run_id: str, key: str, t: int) -> Replayed | None:
    """The run after step t, from the previous frame's state (replay_from trains forward from it)."""
    ss = st.session_state
    try:
        cfg = TrainConfig.from_dict(store.run(run_id)["config"])
        if f"{key}_data" not in ss:  # a CSV's fingerprint hashes the file: once per session, not per frame
            ss[f"{key}_data"] = json.dumps(data_fingerprint(cfg), sort_keys=True)
        data = _dataset(ss[f"{key}_data"], cfg)
        ss[f"{key}_state"] = replay_from(store, run_id, t, ss.get(f"{key}_state"), data)
    except (ReplayError, StoreError, ValueError) as err:
        st.error(f"Step {t} cannot be replayed: {plain_markdown(err, TEXT_CHARS)}")
        return None
    return ss[f"{key}_state"]


def _diagram(store, run_id: str, key: str, rep: Replayed, gradients: bool) -> None:
    """The network diagram and histograms at step t on the run's fixed scales, and the Inspector button."""
    ss, t = st.session_state, rep.step
    try:
        tr = trace(spec_at_step(rep, BATCH_ROWS), numerical=False)
    except ValueError as err:
        st.error(f"Step {t} cannot be drawn: {plain_markdown(err, TEXT_CHARS)}")
        return
    if f"{key}_scales" not in ss:  # a stored run's stats do not change: read them once per session
        ss[f"{key}_scales"] = run_scales(health_stats(store, [run_id]), run_id), float(rep.data.x_train.abs().max())
    scales, x_top = ss[f"{key}_scales"]
    fig, notes = network_figure(tr, 0, "gradient" if gradients else "weight",
                                tops=rp.diagram_tops(scales, x_top, gradients))
    fig.update_layout(title=f"The network after step {t}", margin={"t": 40})
    st.plotly_chart(fig, key=f"{key}_diagram")
    st.caption(rp.scale_caption(tr, scales, gradients) + " " + " ".join(notes))
    st.plotly_chart(rp.step_histograms_figure(tr, scales, t), key=f"{key}_hist")
    if st.button(f"Open step {t} in the Inspector", key=f"{key}_inspect", icon=":material/biotech:",
                 help=f"The network after step {t} on the first {INSPECTOR_ROWS} rows of the batch step {t + 1} "
                      "trains on: its gradients computed three ways (hand-written, autograd, finite differences)."):
        load_spec(spec_at_step(rep, INSPECTOR_ROWS))
        st.switch_page("pages/inspector.py")
