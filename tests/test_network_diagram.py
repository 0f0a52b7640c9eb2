"""The network diagram's colours: one symmetric scale per quantity, shared by every layer, with its colour bar.

Expected ranges are read off the hand-derived presets (line: x = 2, ŷ = 3, W = 1, ∂L/∂W = −28) or taken as
max |value| over the trace's tensors here, never from the figure builder.
"""
from plotly.colors import sample_colorscale

from engine.inspector.presets import preset
from engine.inspector.spec import LayerSpec, NetworkSpec
from engine.inspector.trace import trace
from ui.network_diagram import network_figure


def _colour(marker, v: float) -> str:
    """The colour Plotly gives value v on this marker's scale (needs an explicit cmin/cmax)."""
    assert marker.cmin is not None and marker.cmax is not None, "the scale's range must be fixed, not per trace"
    return sample_colorscale([list(p) for p in marker.colorscale], [(v - marker.cmin) / (marker.cmax - marker.cmin)])[0]


def _bars(fig) -> dict[str, tuple[float, float]]:
    """colour-bar title → (cmin, cmax) for every trace that shows a colour bar."""
    return {tr.marker.colorbar.title.text: (tr.marker.cmin, tr.marker.cmax) for tr in fig.data
            if tr.marker is not None and tr.marker.showscale}


def test_line_input_2_and_output_3_get_different_colours_on_one_scale():
    fig, _ = network_figure(trace(preset("line")), 0, "weight")
    nodes = {int(tr.x[0]): tr for tr in fig.data if tr.mode and tr.mode.startswith("markers") and len(tr.x) == 1
             and tr.hovertext and ("input" in tr.hovertext[0] or "unit" in tr.hovertext[0])}
    x_colour, y_colour = _colour(nodes[0].marker, 2.0), _colour(nodes[1].marker, 3.0)
    assert x_colour != y_colour
    assert (nodes[0].marker.cmin, nodes[0].marker.cmax) == (nodes[1].marker.cmin, nodes[1].marker.cmax) == (-3, 3)
    assert _bars(fig) == {"activation": (-3, 3), "W": (-1, 1)}


def test_gradient_edges_have_their_own_bar_at_max_abs_gradient():
    fig, _ = network_figure(trace(preset("line")), 0, "gradient")
    assert _bars(fig)["∂L/∂W"] == (-28, 28)


def test_the_same_value_gets_the_same_colour_in_every_layer():
    # linear-chain: 2 → 3 → 5 → 1; every node marker shares one range = max |x|, |a_l| over all layers
    t = trace(preset("linear-chain"))
    top = max(float(v.abs().max()) for v in [t.x] + [lt.a for lt in t.layers])
    fig, _ = network_figure(t, 0, "weight")
    nodes = [tr for tr in fig.data if tr.hovertext and ("input" in tr.hovertext[0] or "unit" in tr.hovertext[0])]
    assert len(nodes) == 4
    assert {(tr.marker.cmin, tr.marker.cmax) for tr in nodes} == {(-top, top)}
    assert len({_colour(tr.marker, 0.787) for tr in nodes}) == 1
    w_top = max(float(lt.weight.abs().max()) for lt in t.layers)
    assert _bars(fig) == {"activation": (-top, top), "W": (-w_top, w_top)}


def test_equal_weights_in_two_layers_are_drawn_in_one_colour():
    # W1 = [[0.5, -2]], W2 = [[0.5]]: the two 0.5 edges must land in the same colour, the −2 edge in another
    spec = NetworkSpec(2, [LayerSpec(1, "identity", weight=[[0.5, -2.0]], bias=[0.0]),
                           LayerSpec(1, "identity", weight=[[0.5]], bias=[0.0])], loss="mse",
                       x=[[1.0, 1.0]], y=[[0.0]])
    fig, _ = network_figure(trace(spec), 0, "weight")
    colour_at = {}
    for tr in fig.data:
        if tr.mode == "lines":
            xs = list(tr.x)
            for k in range(0, len(xs), 3):
                colour_at[(xs[k], xs[k + 1], tr.y[k])] = tr.line.color
    assert colour_at[(0, 1, 0.5)] == colour_at[(1, 2, 0.0)] != colour_at[(0, 1, -0.5)]
