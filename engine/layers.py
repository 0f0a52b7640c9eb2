"""ManualLinear: nn.Linear's math with the backward pass written by hand, usable inside training."""
from __future__ import annotations

import math

import torch
from torch import nn


class LinearFunction(torch.autograd.Function):
    """z = x Wᵀ + b with the three gradients of a linear layer written out."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        # x (B, in), weight (out, in), bias (out,) or None → z (B, out)
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        # one fused addmm like nn.Linear: b + x Wᵀ
        return torch.addmm(bias, x, weight.T) if bias is not None else x @ weight.T

    @staticmethod
    def backward(ctx, delta):
        # delta = ∂L/∂z, (B, out)
        x, weight = ctx.saved_tensors
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = delta @ weight  # ∂L/∂x = δ W: (B, out)(out, in) → (B, in)
        if ctx.needs_input_grad[1]:
            grad_w = delta.T @ x  # ∂L/∂W = δᵀ x: (out, B)(B, in) → (out, in)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = delta.sum(dim=0)  # ∂L/∂b = Σ_rows δ: (out,)
        return grad_x, grad_w, grad_b


class ManualLinear(nn.Module):
    """Drop-in for nn.Linear(in_features, out_features, bias): same parameters, same init, hand-written backward."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None, dtype=None):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        kw = {"device": device, "dtype": dtype}
        self.weight = nn.Parameter(torch.empty(out_features, in_features, **kw))
        self.bias = nn.Parameter(torch.empty(out_features, **kw)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # nn.Linear's default: U(±1/√in) for both W (kaiming_uniform with a=√5) and b
        bound = 1.0 / math.sqrt(self.in_features) if self.in_features else 0.0
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:
            return LinearFunction.apply(x, self.weight, self.bias)
        lead = x.shape[:-1]  # flatten leading dims to rows, as nn.Linear accepts (*, in)
        z = LinearFunction.apply(x.reshape(-1, self.in_features), self.weight, self.bias)
        return z.reshape(*lead, self.out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
