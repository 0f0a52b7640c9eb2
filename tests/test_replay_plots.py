"""The per-unit maps of the replay share one colour scale per layer, with a colour bar: the same colour is the
same value across a layer's units."""
from __future__ import annotations

import pytest
import torch

from engine.train.replay_views import NeuronMaps
from ui.replay_plots import neuron_maps_figure


def _maps() -> NeuronMaps:
    layer1 = torch.tensor([[[0.0, 3.0], [1.0, 2.0]],  # unit 1: max |a| 3
                           [[0.5, 0.0], [0.25, 0.0]]])  # unit 2: max |a| 0.5, drawn on unit 1's scale
    layer2 = torch.tensor([[[-7.0, 1.0], [0.0, 2.0]]])  # one unit, max |a| = 7 from a negative value
    big = torch.full((1, 2, 2), 100.0)  # a 3rd unit of layer 1 beyond max_units: not drawn, not in the scale
    return NeuronMaps([0.0, 1.0], [0.0, 1.0], [torch.cat([layer1, big]), layer2])


def test_units_of_a_layer_share_one_colour_axis_at_the_layers_max_abs_value():
    fig = neuron_maps_figure(_maps(), max_units=2)
    heat = [t for t in fig.data if t.type == "heatmap"]
    assert [t.coloraxis for t in heat] == ["coloraxis", "coloraxis", "coloraxis2"]
    assert [(t.zmin, t.zmax) for t in heat] == [(-3.0, 3.0), (-3.0, 3.0), (-7.0, 7.0)]
    assert (fig.layout.coloraxis.cmin, fig.layout.coloraxis.cmax) == (-3.0, 3.0)
    assert (fig.layout.coloraxis2.cmin, fig.layout.coloraxis2.cmax) == (-7.0, 7.0)


def test_each_layers_scale_has_a_colour_bar_under_its_column():
    fig = neuron_maps_figure(_maps(), max_units=2)
    for axis, xaxis, name in ((fig.layout.coloraxis, fig.layout.xaxis, "a_1"),
                              (fig.layout.coloraxis2, fig.layout.xaxis2, "a_2")):
        assert axis.showscale is not False and axis.colorbar.title.text == name
        assert axis.colorbar.x == (xaxis.domain[0] + xaxis.domain[1]) / 2
    assert all(t.showscale is None for t in fig.data)  # no per-trace bar: one bar per layer


def test_the_run_health_heatmaps_draw_the_stats_with_a_colour_bar_beside_each_row():
    import math

    import numpy as np

    from engine.train.health_map import HealthMap
    from ui.replay_plots import health_heatmaps_figure
    maps = {"grad_norm": HealthMap("grad_norm", [1, 2], [1, 2], np.array([[0.1, 10.0], [1.0, 0.0]])),
            "update_ratio": HealthMap("update_ratio", [1, 2], [1, 2], np.array([[1e-3, 1e-1], [1e-5, np.nan]])),
            "dead_fraction": HealthMap("dead_fraction", [1, 2], [1, 2], np.array([[0.0, 0.5], [1.0, 0.25]])),
            "saturated_fraction": HealthMap("saturated_fraction", [1, 2], [1, 2], np.zeros((2, 2)))}
    fig = health_heatmaps_figure(maps)
    heat = [t for t in fig.data if t.type == "heatmap"]
    assert len(heat) == 4 and all(t.showscale is not False for t in heat)
    z = [[None if v is None or (isinstance(v, float) and math.isnan(v)) else v for v in row] for row in heat[0].z]
    assert z == [[-1.0, 1.0], [0.0, -2.0]]  # log₁₀ ‖∂L/∂W‖; a 0 norm a decade below the smallest (0.1)
    assert [list(r) for r in heat[1].z][0] == [0.0, 2.0] and heat[1].zmid == 0  # log₁₀(ratio/1e-3), centred
    assert [list(r) for r in heat[2].z] == [[0.0, 0.5], [1.0, 0.25]] and (heat[2].zmin, heat[2].zmax) == (0, 1)
    titles = [t.colorbar.title.text for t in heat]
    assert titles == ["‖∂L/∂W‖", "log₁₀(ratio/1e-3)", "fraction", "fraction"]
    for r, t in enumerate(heat, start=1):  # each bar sits beside its own row, as tall as it
        lo, hi = fig.layout[f"yaxis{r if r > 1 else ''}"].domain
        assert t.colorbar.y == (lo + hi) / 2 and t.colorbar.len == hi - lo


def test_a_zero_gradient_norm_is_the_darkest_colour_ticked_0_not_a_gap():
    import math

    import numpy as np

    from engine.train.health_map import HealthMap
    from ui.replay_family_plots import health_multiples_figure
    from ui.replay_plots import health_heatmaps_figure
    values = np.array([[0.02, 3.0, np.nan], [0.0, 0.5, 1.0]])  # layer 2 all dead at step 1: ‖∂L/∂W‖ = 0
    other = {k: HealthMap(k, [1, 2], [1, 2, 3], np.zeros((2, 3))) for k in
             ("update_ratio", "dead_fraction", "saturated_fraction")}
    fig = health_heatmaps_figure({"grad_norm": HealthMap("grad_norm", [1, 2], [1, 2, 3], values), **other})
    heat = fig.data[0]
    z = [[None if v is None or (isinstance(v, float) and math.isnan(v)) else v for v in row] for row in heat.z]
    # the smallest positive norm 0.02 lies in the decade 1e-2: a 0 is drawn one decade below, at -3
    assert z[1][0] == -3.0 and z[0][2] is None and z[0][0] == pytest.approx(math.log10(0.02))
    assert list(heat.colorbar.tickvals) == [-3.0, -1, 0] and list(heat.colorbar.ticktext) == ["0", "1e-1", "1e0"]
    assert heat.customdata[1][0] == 0.0  # hover shows the stored value itself
    # across runs: one place for 0 from the smallest norm of every run (1e-4 in run b → 0 at -5 in both)
    maps = {"a": HealthMap("grad_norm", [1], [1, 2], np.array([[0.0, 1.0]])),
            "b": HealthMap("grad_norm", [1], [1, 2], np.array([[1e-4, 0.0]]))}
    multi = health_multiples_figure("grad_norm", maps, {"a": "a", "b": "b"})
    heats = [t for t in multi.data if t.type == "heatmap"]
    assert list(heats[0].z[0]) == [-5.0, 0.0] and list(heats[1].z[0]) == [-4.0, -5.0]
    assert multi.layout.coloraxis.colorbar.ticktext[0] == "0"
