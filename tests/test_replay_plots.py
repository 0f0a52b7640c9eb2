"""The per-unit maps of the replay share one colour scale per layer, with a colour bar: the same colour is the
same value across a layer's units."""
from __future__ import annotations

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
