"""Compare's replay extras: the selected run's family drawn as forks, and the runs' health as small multiples on
one colour scale whose cells jump the replay to that run and step."""
from __future__ import annotations

import streamlit as st

from engine.train import checkpoints
from engine.train.health_fill import health_stats, needs_fill
from engine.train.health_map import HEATMAP_KEYS, health_maps
from ui.choice import label_of
from ui.replay_family_plots import fork_figure, health_multiples_figure
from ui.replay_plots import TITLES

MAX_MULTIPLES = 6  # runs drawn as small multiples at once
MULTIPLES_KEY = "replay_multiples"


def family_of(lineage: dict[str, tuple[str | None, int | None]], run_id: str) -> list[str]:
    """run_id's root ancestor and every run descending from it, root first."""
    root = run_id
    while lineage.get(root, (None, None))[0] in lineage:
        root = lineage[root][0]
    family, frontier = [root], [root]
    while frontier:
        kids = [r for r, (p, _) in lineage.items() if p in frontier and r not in family]
        family += kids
        frontier = kids
    return family


def family_section(store, run_id: str, names: dict[str, str], colors: dict[str, str]) -> None:
    lineage = checkpoints.families(store)
    family = [r for r in family_of(lineage, run_id) if r in names]
    if len(family) < 2:
        return
    steps = store.steps(family)
    curves = {r: (steps.loc[steps["run_id"] == r, "step"].tolist(), steps.loc[steps["run_id"] == r, "loss"].tolist())
              for r in family}
    st.plotly_chart(fork_figure(curves, names, colors, lineage), key="replay_fork")


def _jump() -> None:
    """A click on a small-multiples cell: replay that run at that step."""
    points = st.session_state[MULTIPLES_KEY].selection.points
    hit = next((p for p in points if isinstance(p.get("customdata"), list | tuple)), None)
    if hit is not None:
        run_id, step = hit["customdata"]
        st.session_state["replay_run"], st.session_state["replay_step"] = run_id, int(step)


def multiples_section(store, run_ids: list[str], names: dict[str, str]) -> None:
    runs = run_ids[:MAX_MULTIPLES]
    stats = health_stats(store, runs)
    if stats.empty:
        return
    key = st.selectbox("Health across runs (one colour scale)", HEATMAP_KEYS, index=HEATMAP_KEYS.index("update_ratio"),
                       format_func=label_of(TITLES), key="replay_multiples_stat")
    maps = {r: health_maps(stats, r)[key] for r in runs}
    maps = {r: m for r, m in maps.items() if m.steps}
    if not maps:
        return
    complete = sum(not needs_fill(store, r) for r in maps)  # filled, or recorded at every step
    if complete < len(maps):
        st.caption(f"{complete} of {len(maps)} runs show every step (recorded so, or filled in by an exact replay); "
                   "the others show the steps their training recorded — open one in the replay below to fill it in.")
    if len(run_ids) > MAX_MULTIPLES:
        st.caption(f"The first {MAX_MULTIPLES} of {len(run_ids)} selected runs; tick rows in the table for others.")
    st.plotly_chart(health_multiples_figure(key, maps, names), key=MULTIPLES_KEY, on_select=_jump,
                    selection_mode="points")
