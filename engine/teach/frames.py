"""One trace's computation as an ordered list of frames, to step through on the network diagram.

Order (DESIGN.md notation, a_0 = x, δ_l = ∂L/∂z_l): x; for each layer z_l then a_l (a residual block's inner
layers before the block's sum); the loss; then backward ∂L/∂a_L and, from the top layer down, δ_l, ∂L/∂θ_l for
each parameter θ (W_l, b_l, …), ∂L/∂a_{l-1} — down to ∂L/∂x. A frame's `value` is the very tensor trace()
computed (the manual pass), and its LaTeX writes those numbers (engine.teach.numbers): a small layer's whole
matrix product, a large layer's selected element term by term.
"""
from __future__ import annotations

from engine.inspector.trace import Trace
from engine.teach.backward import backward_frames
from engine.teach.builder import Builder, Frame, Selection
from engine.teach.forward import forward_frames, loss_frame

MAX_FRAMES = 1000  # a link's step is checked against the network's count; no network has more than this


def frames(t: Trace, selection: Selection | None = None) -> list[Frame]:
    """Every step of t's forward and backward pass, in the order it happens."""
    b = Builder(t, selection or Selection())
    forward_frames(b)
    loss_frame(b)
    backward_frames(b)
    return b.frames


__all__ = ["MAX_FRAMES", "Frame", "Selection", "frames"]
