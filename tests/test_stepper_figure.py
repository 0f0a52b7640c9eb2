"""The step-through's diagram does not show what is not computed yet: at each frame the units and edges later
frames compute are grey and unlabelled, what this frame computes is marked, and one colour scale holds for the
whole forward (and the whole backward) pass. Expected values are the trace's tensors and hand-worked numbers."""
from __future__ import annotations

from engine.inspector.presets import preset
from engine.inspector.trace import trace
from engine.teach.frames import frames
from ui.stepper_figure import GOLD, GREY, frame_figure


def _units(fig, column: int):
    """The unit trace drawn at a column: (coloured or grey, its labels)."""
    tr = [d for d in fig.data if d.mode and "markers" in d.mode and list(d.x)[:1] == [column]
          and d.marker.size not in (None,) and d.marker.color != GOLD and d.hoverinfo == "text"]
    assert len(tr) == 1, tr
    return tr[0]


def _bar(fig, title: str) -> tuple[float, float]:
    return next((d.marker.cmin, d.marker.cmax) for d in fig.data if d.marker is not None and d.marker.showscale
                and d.marker.colorbar.title.text == title)


def test_the_single_weight_forward_then_backward():
    """x = 2, z = a = 3 (W = 1, b = 1); backward ∂L/∂a = δ = −14, ∂L/∂W = −28, ∂L/∂x = −14."""
    t = trace(preset("line"))
    fs = frames(t)
    first = frame_figure(t, fs, 0, 0)  # x: the output unit is not computed yet
    assert list(_units(first, 0).marker.color) == [2.0] and _units(first, 1).marker.color == GREY
    assert not _units(first, 1).text and _bar(first, "value") == (-3, 3)  # the scale of the whole forward pass
    z = frame_figure(t, fs, 1, 0)
    assert list(_units(z, 1).marker.color) == [3.0] and list(_units(z, 1).text) == ["3"]
    assert any(d.mode == "lines" and d.line.color == GOLD for d in z.data)  # its edge, being used
    grad = frame_figure(t, fs, 6, 0)  # ∂L/∂W: the input's gradient is not computed yet
    assert fs[6].title.startswith("∂L/∂W1") and _units(grad, 0).marker.color == GREY
    assert list(_units(grad, 1).marker.color) == [-14.0] and _bar(grad, "∂L/∂W") == (-28, 28)
    last = frame_figure(t, fs, 8, 0)
    assert list(_units(last, 0).marker.color) == [-14.0] and _bar(last, "gradient") == (-14, 14)


def test_later_columns_stay_grey_until_their_frame():
    t = trace(preset("two-layer"))
    fs = frames(t)
    for k, f in enumerate(fs):
        if f.phase != "forward":
            continue
        fig = frame_figure(t, fs, k, 1)
        reached = max(c for g in fs[:k + 1] for c in g.nodes)
        for c in range(len(t.spec.sizes)):
            assert (_units(fig, c).marker.color == GREY) == (c > reached), (f.title, c)


def test_every_kind_draws_every_frame():
    """BatchNorm, dropout and residual blocks: every frame draws, edges into a non-dense layer are unit to unit."""
    for name in ("batchnorm", "dropout", "residual"):
        t = trace(preset(name))
        fs = frames(t)
        for k in range(len(fs)):
            fig = frame_figure(t, fs, k, 0)
            assert fig.data
    t = trace(preset("residual"))
    fig = frame_figure(t, frames(t), 0, 0)
    assert any(d.hovertext == "skip connection of layer 2: z = a + f(a)" for d in fig.data if d.mode == "lines")
