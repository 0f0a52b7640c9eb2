"""A residual block: z = x + f(x), a = φ(z), where f is the inner layers (each with its activation) run in
order, ending at the block's input width n — the block nn.Sequential(*inner) with a skip connection.

Its parameters are the inner layers', named as nn.Sequential names them: "0.weight", "1.bias", a nested
block's "1.0.weight". Inner layers are numbered in run order right after the block's own index.

Backward (δ = ∂L/∂z (B, n)): the sum of the two paths into x,
  ∂L/∂x = δ (the skip, the gradient highway) + ∂L/∂x through f (the inner layers' chain rule, with
  ∂L/∂a_last = δ). The inner layers' own gradients (δ, ∂L/∂a, parameters) are kept in the cache's
  `inner` record so that a trace can show them.
"""
from __future__ import annotations

import torch

from engine.core.layers.base import Context, Layer, Params
from engine.core.layers.linear import _d, _shape
from engine.core.layers.terms import ElementTerms, tex_number


def split(params: Params, k: int) -> Params:
    """Inner layer k's parameters out of the block's "k.name" entries."""
    prefix = f"{k}."
    return {name[len(prefix):]: t for name, t in params.items() if name.startswith(prefix)}


class Residual(Layer):
    """z_l = a_{l-1} + f_l(a_{l-1})."""

    type = "residual"
    rowwise = False  # its inner layers are traced too, which the row-block finite differences cannot reach
    health_param = None

    def __init__(self, index: int, fan_in: int, units: int | None = None, activation: str = "identity",
                 children: list[Layer] | None = None):
        super().__init__(index, fan_in, fan_in, activation)
        self.children = list(children or [])

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        return {f"{k}.{name}": shape for k, child in enumerate(self.children)
                for name, shape in child.param_shapes().items()}

    def init_params(self, init: str, gen: torch.Generator, dtype: torch.dtype) -> Params:
        return {f"{k}.{name}": t for k, child in enumerate(self.children)
                for name, t in child.init_params(init, gen, dtype).items()}

    def initial_state(self, dtype: torch.dtype = torch.float32) -> dict:
        return {i: s for child in self.children for i, s in child.initial_state(dtype).items()}

    def forward(self, params: Params, x: torch.Tensor, ctx: Context):
        """z = x + f(x) (B, n). Cache: per inner layer (its input, z, a, cache)."""
        steps, h = [], x
        for k, child in enumerate(self.children):
            z, a, cache = child.apply(split(params, k), h, ctx)
            steps.append({"input": h, "z": z, "a": a, "cache": cache})
            h = a
        return x + h, {"steps": steps, "inner": {}}

    def backward(self, params: Params, cache, delta: torch.Tensor, need_input: bool = True):
        """The inner chain rule from ∂L/∂a_last = δ down; ∂L/∂x = δ + the inner path's ∂L/∂x."""
        grads, g = {}, delta
        for k in range(len(self.children) - 1, -1, -1):
            child, step = self.children[k], cache["steps"][k]
            d = child.activation.backward(step["z"], step["a"], g)  # δ_child = ∂L/∂a ⊙ φ'(z)
            child_grads, g_in = child.backward(split(params, k), step["cache"], d)
            cache["inner"][child.index] = {**child_grads, "z": d, "a": g, "input": g_in}
            grads.update({f"{k}.{name}": t for name, t in child_grads.items()})
            g = g_in
        return dict(sorted(grads.items(), key=lambda kv: list(params).index(kv[0]))), delta + g

    def torch_forward(self, params: Params, x: torch.Tensor, ctx: Context | None = None) -> torch.Tensor:
        ctx = ctx or Context()
        h = x
        for k, child in enumerate(self.children):
            _, h = child.torch_run(split(params, k), h, ctx)
        return x + h

    def latex_forward(self, B: int) -> list[tuple[str, str]]:
        l, n = self.index, self.units
        inner = ", ".join(str(c.index) for c in self.children)
        return [(f"The input skips past layers {inner} and is added to what they compute",
                 rf"z_{{{l}}} = a_{{{l - 1}}} + f_{{{l}}}(a_{{{l - 1}}}), \quad f_{{{l}}} = "
                 rf"\text{{layers }} {inner} \quad {_shape(B, n)} = {_shape(B, n)} + {_shape(B, n)}")]

    def latex_backward(self, B: int) -> list[tuple[str, str]]:
        l = self.index
        return [("Two paths into the input: the skip passes δ unchanged, the inner path through its layers "
                 f"(∂L/∂a of layer {self.children[-1].index} is δ_{l})",
                 rf"{_d('L', f'a_{{{l - 1}}}')} = {self.latex_grad_input()} \quad {_shape(B, self.units)}")]

    def latex_grad_input(self) -> str:
        return rf"\delta_{{{self.index}}} + {self.children[0].latex_grad_input()}"

    def element_terms(self, params: Params, x: torch.Tensor, values: Params, delta: torch.Tensor, r: int, j: int,
                      inner: torch.Tensor | None = None) -> ElementTerms:
        """∂L/∂a_{l-1}[r, j] = δ[r, j] (the skip) + inner[r, j] (∂L/∂x through the inner layers)."""
        l, skip, through = self.index, delta[r, j].item(), inner[r, j].item()
        first = self.children[0].index
        line = (rf"{_d('L', f'a_{{{l - 1}}}[{r},{j}]')} = \underbrace{{\delta_{{{l}}}[{r},{j}]}}_{{\text{{skip}}}} + "
                rf"\underbrace{{{_d('L', f'a_{{{l - 1}}}[{r},{j}]')}\Big|_{{f_{{{l}}}}}}}_{{\text{{layers {first}…}}}}"
                rf" = {tex_number(skip)} + {tex_number(through)} = {tex_number(skip + through)}")
        return ElementTerms([(f"The sum of the two paths: the skip passes δ_{l} unchanged, the inner path is layer "
                              f"{first}'s ∂L/∂(its input)", line)], {"skip": skip, "inner": through}, skip + through)

    def describe(self) -> str:
        return f"residual {self.units} (layers {', '.join(str(c.index) for c in self.children)}), " \
               f"{self.activation.name}"
