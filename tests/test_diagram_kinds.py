"""The network diagram draws the new kinds: normalisation nodes as squares, dropped units grey, a residual
block's skip connection as an arc with the share of the gradient it carries."""
from __future__ import annotations

from engine.inspector.presets import preset
from engine.inspector.trace import trace
from ui.network_diagram import network_figure


def _nodes(fig, column: int):
    return [d for d in fig.data if d.mode and "markers" in d.mode and list(d.x)[:1] == [column]
            and d.hoverinfo == "text" and d.marker.size and d.marker.size > 6]


def test_batchnorm_units_are_square_nodes():
    fig, _ = network_figure(trace(preset("batchnorm")))
    assert _nodes(fig, 2)[0].marker.symbol == "square" and _nodes(fig, 1)[0].marker.symbol == "circle"


def test_dropped_units_are_grey_and_say_so():
    t = trace(preset("dropout"))
    fig, _ = network_figure(t, sample=0)
    node = _nodes(fig, 2)[0]
    mask = t.layers[1].values["mask"][0].tolist()
    assert [c == "#d0d0d0" for c in node.marker.color] == [m == 0 for m in mask]
    assert all(("dropped" in h) == (m == 0) for h, m in zip(node.hovertext, mask, strict=True))


def test_each_residual_block_has_a_skip_arc_with_its_share_of_the_gradient():
    t = trace(preset("residual"))
    fig, _ = network_figure(t)
    arcs = [d for d in fig.data if d.hovertext and "skip connection" in str(d.hovertext)]
    assert len(arcs) == 2
    block = t.layers[1]
    skip, inner = block.grads["z"].manual.norm(), block.children[0].grads["input"].manual.norm()
    assert f"{float(skip / (skip + inner)):.0%}" in arcs[0].hovertext
