"""The landscape figures draw what the numbers say: colour = log₁₀ loss labelled with the loss, a faded path
is marked in its legend entry, the endpoints plane's axes name their runs, slices use log only across decades."""
from __future__ import annotations

import numpy as np

from ui import landscape_plots as lp

RESULT = {
    "plane": {"kind": "endpoints", "center": "the shared initial weights"},
    "alpha": [0.0, 1.0, 2.0], "beta": [0.0, 0.5],
    "loss": [[1.0, 0.3, 0.04], [0.8, 0.2, 0.05]],
    "paths": [{"run_id": "a", "step": [0, 5], "alpha": [0.0, 2.0], "beta": [0.0, 0.0], "loss": [1.0, 0.04],
               "surface_loss": [1.0, 0.04], "projection_error": [0.0, 0.0], "faded": False},
              {"run_id": "b", "step": [0, 5], "alpha": [0.0, 1.0], "beta": [0.0, 0.5], "loss": [1.0, 0.2],
               "surface_loss": [1.0, 0.25], "projection_error": [0.0, 0.7], "faded": True}],
    "slices": [{"kind": "init_final", "run_ids": ["a"], "t": [0.0, 0.5, 1.0], "loss": [1.0, 0.3, 0.04]},
               {"kind": "final_final", "run_ids": ["a", "b"], "t": [0.0, 0.5, 1.0], "loss": [0.04, 0.5, 0.2],
                "barrier": 0.38}],
}
NAMES, COLORS = {"a": "adam <b>", "b": "sgd"}, {"a": "#ff0000", "b": "#0000ff"}


def test_contour_colour_is_log10_of_the_loss_with_the_loss_on_its_ticks():
    fig = lp.landscape_contour_figure(RESULT, NAMES, COLORS)
    contour = fig.data[0]
    np.testing.assert_allclose(np.array(contour.z, dtype=float), np.log10(RESULT["loss"]))
    assert [float(t) for t in contour.colorbar.ticktext] == [0.05, 0.1, 0.2, 0.5, 1.0]
    np.testing.assert_allclose(10 ** np.array(contour.colorbar.tickvals), [0.05, 0.1, 0.2, 0.5, 1.0])


def test_paths_keep_the_runs_colours_and_the_far_one_is_faded_and_says_so():
    fig = lp.landscape_contour_figure(RESULT, NAMES, COLORS)
    paths = {t.meta: t for t in fig.data if t.type == "scatter" and t.mode == "lines+markers"}
    assert paths["a"].line.color == "#ff0000" and paths["b"].line.color == "#0000ff"
    assert paths["a"].opacity == 1 and paths["b"].opacity < 1 and paths["b"].line.dash == "dot"
    assert paths["b"].name == "sgd (far from the plane)" and paths["a"].name == "adam &lt;b&gt;"  # escaped
    assert "toward adam &lt;b&gt;'s final weights" in fig.layout.xaxis.title.text
    assert "toward sgd's final weights" in fig.layout.yaxis.title.text


def test_slices_use_a_log_axis_only_across_decades():
    fig = lp.slices_figure(RESULT, NAMES, COLORS)
    assert fig.layout.yaxis.type == "log"  # 0.04 … 1: 25×
    assert fig.layout.yaxis2.type == "linear"  # 0.04 … 0.5: 12.5×
    assert "barrier 0.38" in fig.data[1].name
