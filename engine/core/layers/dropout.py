"""Inverted dropout, like torch.nn.Dropout(p): z = x ⊙ mask/(1 − p) in training, z = x in evaluation.

mask (B, n) holds 1 (kept, probability 1 − p) or 0 (dropped). It is the state of the pass: given by the
spec or drawn once (ctx.state[index]["mask"]), then read by the manual and the torch forward alike, so all
three gradient columns see the same mask. Training draws a fresh one per pass from ctx.generator (torch's
global generator when None). Backward: ∂L/∂x = δ ⊙ mask/(1 − p) (B, n); no parameters.
"""
from __future__ import annotations

import torch

from engine.core.layers.base import Context, Layer, Params
from engine.core.layers.linear import _d, _shape
from engine.core.layers.terms import ElementTerms, tex_number


class Dropout(Layer):
    """z_l = a_{l-1} ⊙ m_l/(1 − p)."""

    type = "dropout"
    rowwise = False  # each row has its own mask, so a perturbed copy of a row cannot run on its own
    health_param = None

    def __init__(self, index: int, fan_in: int, units: int | None = None, activation: str = "identity",
                 p: float = 0.5):
        super().__init__(index, fan_in, fan_in, activation)
        self.p = p

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        return {}

    def init_params(self, init: str, gen: torch.Generator, dtype: torch.dtype) -> Params:
        return {}

    def draw_mask(self, rows: int, gen: torch.Generator | None, dtype, device=None) -> torch.Tensor:
        """(rows, n) of 1 with probability 1 − p, else 0."""
        return (torch.rand(rows, self.units, generator=gen, dtype=dtype, device=device) >= self.p).to(dtype)

    def mask(self, x: torch.Tensor, ctx: Context) -> torch.Tensor:
        """This pass's mask: the one in ctx.state, else a fresh draw (kept there when the state is shared)."""
        state = ctx.state.setdefault(self.index, {})
        if "mask" not in state or state["mask"].shape != x.shape:
            state["mask"] = self.draw_mask(x.shape[0], ctx.generator, x.dtype, x.device)
        return state["mask"].to(x.dtype)

    def _scaled_mask(self, x: torch.Tensor, ctx: Context) -> torch.Tensor | None:
        return self.mask(x, ctx) / (1 - self.p) if ctx.training and self.p > 0 else None

    def forward(self, params: Params, x: torch.Tensor, ctx: Context):
        m = self._scaled_mask(x, ctx)  # mask/(1 − p) (B, n), or None: the identity
        return (x if m is None else x * m), m

    def backward(self, params: Params, cache, delta: torch.Tensor, need_input: bool = True):
        return {}, (delta if cache is None else delta * cache) if need_input else None

    def torch_forward(self, params: Params, x: torch.Tensor, ctx: Context | None = None) -> torch.Tensor:
        m = self._scaled_mask(x, ctx or Context())
        return x if m is None else x * m

    def forward_values(self, cache) -> dict[str, torch.Tensor]:
        return {} if cache is None else {"mask": (cache != 0).to(cache.dtype)}

    def latex_forward(self, B: int) -> list[tuple[str, str]]:
        l, n = self.index, self.units
        return [(f"Inverted dropout: each unit kept with probability 1 − p = {1 - self.p:g}, the kept ones scaled up",
                 rf"z_{{{l}}} = a_{{{l - 1}}} \odot \frac{{m_{{{l}}}}}{{1 - {self.p:g}}} \quad {_shape(B, n)}")]

    def latex_backward(self, B: int) -> list[tuple[str, str]]:
        l = self.index
        return [("A dropped unit passes no gradient; a kept one passes δ scaled by 1/(1 − p)",
                 rf"{_d('L', f'a_{{{l - 1}}}')} = {self.latex_grad_input()} \quad {_shape(B, self.units)}")]

    def latex_grad_input(self) -> str:
        return rf"\delta_{{{self.index}}} \odot \frac{{m_{{{self.index}}}}}{{1 - {self.p:g}}}"

    def element_terms(self, params: Params, x: torch.Tensor, values: Params, delta: torch.Tensor, r: int, j: int,
                      inner: torch.Tensor | None = None) -> ElementTerms:
        """∂L/∂a_{l-1}[r, j] = δ[r, j] · m[r, j]/(1 − p): 0 where the unit was dropped."""
        l, d = self.index, delta[r, j].item()
        m = values["mask"][r, j].item() if "mask" in values else 1.0  # evaluation (or p = 0): no mask
        scale = m / (1 - self.p) if "mask" in values else 1.0
        kept = "kept, so δ passes scaled by 1/(1 − p)" if m else "dropped, so no gradient passes"
        line = (rf"{_d('L', f'a_{{{l - 1}}}[{r},{j}]')} = \delta_{{{l}}}[{r},{j}]\,\frac{{m_{{{l}}}[{r},{j}]}}"
                rf"{{1 - {self.p:g}}} = {tex_number(d)}\cdot\frac{{{m:g}}}{{{1 - self.p:g}}} = {tex_number(d * scale)}")
        return ElementTerms([(f"Unit ({r},{j}) was {kept}", line)], {"delta": d, "mask": m, "scale": scale},
                            d * scale)

    def describe(self) -> str:
        return f"dropout p={self.p:g}, {self.activation.name}"
