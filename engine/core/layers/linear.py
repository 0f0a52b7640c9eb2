"""The linear layer: z = x Wᵀ + b, like torch.nn.Linear. W is (out, in), x is (B, in), batches are rows.

Forward and backward side by side (DESIGN.md notation, δ = ∂L/∂z of shape (B, out)):
  ∂L/∂W = δᵀ x (out, in);  ∂L/∂b = Σ_rows δ (out,);  ∂L/∂x = δ W (B, in).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from engine.core.layers.base import Context, Layer, Params, ShiftProbes

INITS = ("kaiming", "xavier", "normal", "zeros", "torch")


def init_weight(init: str, fan_out: int, fan_in: int, gen: torch.Generator, dtype) -> torch.Tensor:
    """One weight matrix (fan_out, fan_in) by the named scheme."""
    if init == "kaiming":  # He et al. 2015: Var = 2 / fan_in keeps ReLU activations' scale
        return torch.randn(fan_out, fan_in, generator=gen, dtype=dtype) * math.sqrt(2.0 / fan_in)
    if init == "xavier":  # Glorot & Bengio 2010: U(±√(6/(fan_in+fan_out)))
        bound = math.sqrt(6.0 / (fan_in + fan_out))
        return (torch.rand(fan_out, fan_in, generator=gen, dtype=dtype) * 2 - 1) * bound
    if init == "normal":  # N(0, 1) as in the from-scratch tutorials: too large for deep nets
        return torch.randn(fan_out, fan_in, generator=gen, dtype=dtype)
    if init == "torch":  # nn.Linear's default (kaiming_uniform with a = √5): U(±1/√fan_in)
        return (torch.rand(fan_out, fan_in, generator=gen, dtype=dtype) * 2 - 1) / math.sqrt(fan_in)
    return torch.zeros(fan_out, fan_in, dtype=dtype)


def init_bias(init: str, n: int, gen: torch.Generator, dtype, fan_in: int = 1) -> torch.Tensor:
    """Zero biases, except the tutorials' `normal` scheme (N(0, 1)) and nn.Linear's (U(±1/√fan_in))."""
    if init == "normal":
        return torch.randn(n, generator=gen, dtype=dtype)
    if init == "torch":
        return (torch.rand(n, generator=gen, dtype=dtype) * 2 - 1) / math.sqrt(fan_in)
    return torch.zeros(n, dtype=dtype)


def _shape(*dims: int) -> str:
    r"""(4\times 2) — a shape as LaTeX."""
    return "(" + r"\times ".join(str(d) for d in dims) + ")"


def _d(top: str, bottom: str) -> str:
    return rf"\frac{{\partial {top}}}{{\partial {bottom}}}"


class Linear(Layer):
    """z_l = a_{l-1} W_lᵀ + b_l."""

    type = "linear"
    affine_input = True  # input_map: W
    shift_probes = True  # param_probes: W[o, i] and b[o] each move single z elements

    def __init__(self, index: int, fan_in: int, units: int, activation: str = "identity", bias: bool = True):
        super().__init__(index, fan_in, units, activation)
        self.has_bias = bias

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        shapes = {"weight": (self.units, self.fan_in)}
        if self.has_bias:
            shapes["bias"] = (self.units,)
        return shapes

    def init_params(self, init: str, gen: torch.Generator, dtype: torch.dtype) -> Params:
        params = {"weight": init_weight(init, self.units, self.fan_in, gen, dtype)}
        if self.has_bias:
            params["bias"] = init_bias(init, self.units, gen, dtype, self.fan_in)
        return params

    def forward(self, params: Params, x: torch.Tensor, ctx: Context) -> tuple[torch.Tensor, torch.Tensor]:
        """z = b + x Wᵀ: (B, in)(in, out) + (out,) → (B, out), one fused addmm like nn.Linear. Cache: x."""
        w, b = params["weight"], params.get("bias")
        return (torch.addmm(b, x, w.T) if b is not None else x @ w.T), x

    def backward(self, params: Params, cache, delta: torch.Tensor,
                 need_input: bool = True) -> tuple[Params, torch.Tensor | None]:
        x = cache
        grads = {"weight": delta.T @ x}  # ∂L/∂W = δᵀ x: (out, B)(B, in) → (out, in)
        if self.has_bias:
            grads["bias"] = delta.sum(dim=0)  # ∂L/∂b = Σ_rows δ: (out,)
        grad_x = delta @ params["weight"] if need_input else None  # ∂L/∂x = δ W: (B, out)(out, in) → (B, in)
        return grads, grad_x

    def forward_into(self, params: Params, x: torch.Tensor, ctx: Context,
                     out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """forward's z = b + x Wᵀ written into out (B, out) by the same addmm."""
        w, b = params["weight"], params.get("bias")
        return (torch.addmm(b, x, w.T, out=out) if b is not None else torch.mm(x, w.T, out=out)), x

    def backward_into(self, params: Params, cache, delta: torch.Tensor, grads: Params,
                      grad_x: torch.Tensor | None) -> None:
        """backward's three products, each into its buffer: no allocation."""
        torch.mm(delta.T, cache, out=grads["weight"])  # ∂L/∂W = δᵀ x: (out, B)(B, in)
        if self.has_bias:
            torch.sum(delta, dim=0, out=grads["bias"])  # ∂L/∂b = Σ_rows δ: (out,)
        if grad_x is not None:
            torch.mm(delta, params["weight"], out=grad_x)  # ∂L/∂x = δ W: (B, out)(out, in)

    def torch_forward(self, params: Params, x: torch.Tensor, ctx: Context | None = None) -> torch.Tensor:
        return F.linear(x, params["weight"], params.get("bias"))

    def latex_forward(self, B: int) -> list[tuple[str, str]]:
        l, p, o = self.index, self.fan_in, self.units
        return [("Pre-activation: every row of the batch times Wᵀ, plus the bias (broadcast over rows)"
                 + (" — a₀ is the input x" if l == 1 else ""),
                 rf"z_{{{l}}} = a_{{{l - 1}}} W_{{{l}}}^\top + b_{{{l}}} \quad "
                 rf"{_shape(B, o)} = {_shape(B, p)}\,{_shape(p, o)} + {_shape(o)}")]

    def latex_backward(self, B: int) -> list[tuple[str, str]]:
        l, p, o = self.index, self.fan_in, self.units
        return [
            ("Weight gradient: errors times the inputs that fed them, summed over the batch",
             rf"{_d('L', f'W_{{{l}}}')} = \delta_{{{l}}}^\top a_{{{l - 1}}} \quad "
             rf"{_shape(o, p)} = {_shape(o, B)}\,{_shape(B, p)}"),
            ("Bias gradient: the errors summed over the batch rows",
             rf"{_d('L', f'b_{{{l}}}')} = \sum_{{r}} \delta_{{{l}}}[r,:] \quad "
             rf"{_shape(o)} = \textstyle\sum_{{rows}} {_shape(B, o)}"),
            ("Gradient passed down to the layer below" if l > 1 else "Gradient with respect to the input x",
             rf"{_d('L', f'a_{{{l - 1}}}')} = {self.latex_grad_input()} \quad "
             rf"{_shape(B, p)} = {_shape(B, o)}\,{_shape(o, p)}"),
        ]

    def latex_grad_input(self) -> str:
        return rf"\delta_{{{self.index}}} W_{{{self.index}}}"

    def connections(self, values: Params) -> torch.Tensor | None:
        return values["weight"]

    def input_map(self, params: Params) -> torch.Tensor | None:
        """z = x Wᵀ + b: ∂z[r, :]/∂x[r, i] = W[:, i], so M = W."""
        return params["weight"]

    def param_probes(self, params: Params, x: torch.Tensor, z: torch.Tensor, h: float) -> dict:
        """z is linear in W and b, so each parameter element moves single z elements:
        W[o, i] ± h moves z[r, o] by ±h·x[r, i] (rows with x[r, i] = 0 do not move and are left out);
        b[o] ± h moves z[r, o] by ±h in every row r."""
        rows, out_n = z.shape
        in_n = x.shape[1]
        moving = torch.nonzero(x)  # (K, 2): the (r, i) where W[·, i] moves row r
        o = torch.arange(out_n).repeat_interleave(len(moving))
        wr, wi = moving[:, 0].repeat(out_n), moving[:, 1].repeat(out_n)
        probes = {"weight": ShiftProbes(wr, o, h * x[wr, wi], o * in_n + wi)}
        if self.has_bias:
            br, bo = torch.arange(rows).repeat_interleave(out_n), torch.arange(out_n).repeat(rows)
            probes["bias"] = ShiftProbes(br, bo, torch.full((rows * out_n,), h, dtype=z.dtype), bo)
        return probes
