"""Compare's replay family: a branch drawn as a fork on its parent's line, health small multiples on one colour
scale with click targets carrying (run, step), and a run's family found through the lineage."""
from __future__ import annotations

import numpy as np

from engine.train.health_map import HealthMap
from ui.replay_family import family_of
from ui.replay_family_plots import fork_figure, health_multiples_figure


def test_a_branch_starts_on_its_parents_drawn_line_at_the_branch_step():
    curves = {"p": ([0, 2, 4], [1.0, 0.5, 0.25]), "b": ([4, 5], [0.3, 0.2])}
    fig = fork_figure(curves, {"p": "parent", "b": "branch"}, {}, {"b": ("p", 3)})
    lines = {t.name: t for t in fig.data if t.mode == "lines"}
    assert list(lines["parent"].x) == [0, 2, 4]
    # step 3 lies halfway between the parent's logged steps 2 (0.5) and 4 (0.25): 0.375 on its line
    assert list(lines["branch"].x) == [3, 4, 5] and list(lines["branch"].y) == [0.375, 0.3, 0.2]
    (mark,) = [t for t in fig.data if t.mode == "markers"]
    assert (list(mark.x), list(mark.y), mark.marker.symbol) == ([3], [0.375], "diamond")


def test_small_multiples_share_one_colour_axis_over_all_runs():
    maps = {"a": HealthMap("grad_norm", [1, 2], [1, 2], np.array([[1.0, 10.0], [10.0, 1.0]])),
            "b": HealthMap("grad_norm", [1, 2], [1, 3], np.array([[100.0, 1000.0], [np.nan, 100.0]]))}
    fig = health_multiples_figure("grad_norm", maps, {"a": "run a", "b": "run b"})
    heat = [t for t in fig.data if t.type == "heatmap"]
    assert [t.coloraxis for t in heat] == ["coloraxis", "coloraxis"]
    # log₁₀ of the smallest (1) and largest (1000) norm over both runs: one range, same colour = same value
    assert (fig.layout.coloraxis.cmin, fig.layout.coloraxis.cmax) == (0.0, 3.0)
    clicks = [t for t in fig.data if t.type == "scatter"]
    assert [list(c) for c in clicks[1].customdata] == [["b", 1], ["b", 1], ["b", 3], ["b", 3]]
    assert list(clicks[1].x) == [1, 1, 3, 3] and list(clicks[1].y) == ["layer 1", "layer 2"] * 2


def test_the_update_ratio_keeps_its_fixed_scale_centred_on_the_healthy_ratio():
    maps = {"a": HealthMap("update_ratio", [1], [1, 2], np.array([[1e-3, 1e-1]]))}
    fig = health_multiples_figure("update_ratio", maps, {"a": "a"})
    assert (fig.layout.coloraxis.cmin, fig.layout.coloraxis.cmax) == (-3, 3)
    assert list(fig.data[0].z[0]) == [0.0, 2.0]  # log₁₀(ratio / 1e-3)


def test_a_runs_family_is_its_root_and_every_descendant():
    lineage = {"a": (None, None), "b": ("a", 3), "c": ("b", 5), "d": (None, None), "e": ("a", 7)}
    assert family_of(lineage, "c") == ["a", "b", "e", "c"]
    assert family_of(lineage, "d") == ["d"]


def test_the_title_says_when_a_click_lands_on_the_nearest_target_not_the_cell():
    """At most MAX_CLICK_COLUMNS targets a layer row: 400 steps → every 3rd column is one, and the title says so
    (it said "click a cell to replay that step" while a click opened a step up to one column away)."""
    from ui.replay_family_plots import MAX_CLICK_COLUMNS
    steps = list(range(1, 401))
    maps = {"a": HealthMap("grad_norm", [1], steps, np.ones((1, 400))),
            "b": HealthMap("grad_norm", [1], [1, 2, 3], np.ones((1, 3)))}
    fig = health_multiples_figure("grad_norm", maps, {"a": "a", "b": "b"})
    clicks = [t for t in fig.data if t.type == "scatter"]
    assert list(clicks[0].x) == steps[::3] and len(clicks[0].x) <= MAX_CLICK_COLUMNS
    assert list(clicks[1].x) == [1, 2, 3]
    assert "replay the nearest target (1 column in 3" in fig.layout.title.text
    small = health_multiples_figure("grad_norm", {"b": maps["b"]}, {"b": "b"})
    assert small.layout.title.text.endswith("click a cell to replay that step")
    # the x-axis spans the cells (steps 1..400, each a unit wide), not the markers' padding
    assert list(fig.layout.xaxis.range) == [0.5, 400.5] and list(small.layout.xaxis.range) == [0.5, 3.5]
    sampled = health_multiples_figure("grad_norm", {"c": HealthMap("grad_norm", [1], [0, 25, 50], np.ones((1, 3)))},
                                      {"c": "c"})
    assert list(sampled.layout.xaxis.range) == [-12.5, 62.5]  # cells 25 steps wide: half a cell either side
