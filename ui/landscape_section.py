"""The Compare page's loss-landscape section: pick runs and a plane, compute (with a progress bar), draw."""
from __future__ import annotations

import streamlit as st

from engine.landscape import LandscapeError
from engine.landscape.compute import MAX_RUNS, PAGE_WORK_LIMIT, landscape
from engine.landscape.trajectory import USABLE
from engine.store.runs import StoreError
from engine.train.checkpoints import ReplayError
from engine.train.config import ConfigError
from ui import landscape_plots as lp
from ui.choice import choose_many
from ui.text import TEXT_CHARS, plain_markdown

PLANE_HELP = ("endpoints: the plane through the shared initial weights and two runs' final weights (exact at those "
              "three points). pca: the first two principal components of every run's path. random: two "
              "filter-normalised random directions around the first run's final weights (Li et al. 2018). "
              "auto: endpoints for two runs that start from the same weights, else pca.")


def landscape_section(store, runs, shown: list[str], names: dict, colors: dict) -> None:
    st.subheader("Loss landscape: where each optimizer went")
    st.caption("The full-training-set loss over a plane through parameter space, θ(α, β) = c + α d₁ + β d₂, and "
               "each run's weights every few steps (replayed from the store) projected onto it.")
    status = dict(zip(runs["run_id"], runs["status"], strict=True))
    pool = [rid for rid in shown if status.get(rid) in USABLE]
    if not pool:
        st.info("A landscape needs finished or stopped runs among the selected ones.")
        return
    label = {rid: names.get(rid, rid) for rid in pool}
    pick = choose_many(st, "Runs (one network, dataset and loss)", label, default=pool[:2], max_selections=MAX_RUNS,
                       key="landscape_runs")
    c1, c2, c3, c4 = st.columns(4)
    plane = c1.selectbox("Plane", ["auto", "endpoints", "pca", "random"], help=PLANE_HELP, key="landscape_plane")
    grid = c2.slider("Grid points a side", 5, 61, 31, step=2, key="landscape_grid")
    span = c3.slider("Span (× the paths' extent)", 1.0, 3.0, 1.2, step=0.1, key="landscape_span")
    surface = c4.toggle("3-D surface too", key="landscape_surface")
    request = (tuple(pick), plane, grid, round(span, 2))
    if st.button("Compute the landscape", disabled=not pick, key="landscape_go"):
        st.session_state["landscape"] = (request, _compute(store, request))
    done = st.session_state.get("landscape")
    if done is None or done[0] != request:
        st.caption("Choose runs and a plane, then compute (a few seconds for small networks).")
        return
    if isinstance(done[1], str):
        st.error(done[1])
        return
    _draw(done[1], names, colors, surface)


def _compute(store, request) -> dict | str:
    """The landscape as a dict, or the one-line reason it was refused."""
    pick, plane, grid, span = request
    bar = st.progress(0.0, text="starting")
    try:
        result = landscape(store, list(pick), plane=None if plane == "auto" else plane, grid=grid, span=span,
                           work_limit=PAGE_WORK_LIMIT,
                           progress=lambda f, text: bar.progress(min(max(f, 0.0), 1.0), text=text))
    except (LandscapeError, ReplayError, ConfigError, StoreError, ValueError) as err:
        return f"No landscape: {plain_markdown(err, TEXT_CHARS)}"
    finally:
        bar.empty()
    return result.to_json()


def _draw(result: dict, names: dict, colors: dict, surface: bool) -> None:
    for path in result["paths"]:
        if path["faded"]:
            st.warning(f"{plain_markdown(names.get(path['run_id'], path['run_id']))}: its path is far from this plane "
                       f"(projection error up to {max(path['projection_error']):.2g}), so it is drawn faded and where "
                       "it appears to be, and the loss under it, may mislead; hover shows its real loss.")
    st.plotly_chart(lp.landscape_contour_figure(result, names, colors), key="landscape_contour")
    st.caption(f"Loss over all {result['rows']:,} training rows at each of {len(result['alpha'])}×"
               f"{len(result['beta'])} points, computed on {result['device']} in {result['seconds']:.1f} s. Each "
               "marker is a run's weights at a step, projected onto the plane.")
    if surface:
        st.plotly_chart(lp.landscape_surface_figure(result, names, colors), key="landscape_surface_fig")
    st.plotly_chart(lp.projection_error_figure(result, names, colors), key="landscape_error")
    st.plotly_chart(lp.slices_figure(result, names, colors), key="landscape_slices")
