"""Activations and losses, each with its hand-written derivative written next to it.

Shapes: z, a are (batch, units); batches are rows (DESIGN.md notation).
Nothing here uses autograd: these are the formulas the manual backward pass is built from.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

LEAKY_SLOPE = 0.01  # same default negative slope as torch.nn.LeakyReLU


@dataclass(frozen=True)
class Activation:
    """φ and its backward: grad_z = backward(z, a, grad_a) = ∂L/∂a ⊙ φ'(z) (Jacobian product for softmax)."""

    name: str
    forward: Callable[[torch.Tensor], torch.Tensor]
    derivative: Callable[[torch.Tensor], torch.Tensor] | None  # elementwise φ'(z); None for softmax
    latex: str  # φ(z) and φ'(z), shown in the UI
    elementwise: bool = True

    def backward(self, z: torch.Tensor, a: torch.Tensor, grad_a: torch.Tensor) -> torch.Tensor:
        """δ = ∂L/∂z from ∂L/∂a, shape (batch, units)."""
        if self.elementwise:
            return grad_a * self.derivative(z)
        return softmax_backward(a, grad_a)


def _sigmoid(z):
    return 1.0 / (1.0 + torch.exp(-z))


def _sigmoid_grad(z):
    s = _sigmoid(z)
    return s * (1.0 - s)  # σ'(z) = σ(z)(1 − σ(z))


def _tanh_grad(z):
    t = torch.tanh(z)
    return 1.0 - t * t  # tanh'(z) = 1 − tanh²(z)


def _relu_grad(z):
    # φ'(0) := 0, the convention torch uses; the kink itself has no derivative.
    return (z > 0).to(z.dtype)


def _leaky(z):
    return torch.where(z > 0, z, LEAKY_SLOPE * z)


def _leaky_grad(z):
    return torch.where(z > 0, torch.ones_like(z), torch.full_like(z, LEAKY_SLOPE))


def softmax(z: torch.Tensor) -> torch.Tensor:
    """softmax over units: exp(z − max z) / Σ exp(z − max z); shifting by the max avoids overflow."""
    e = torch.exp(z - z.max(dim=1, keepdim=True).values)
    return e / e.sum(dim=1, keepdim=True)


def softmax_backward(a: torch.Tensor, grad_a: torch.Tensor) -> torch.Tensor:
    """Row-wise Jacobian product: ∂L/∂z_i = a_i (g_i − Σ_j g_j a_j), since ∂a_j/∂z_i = a_j(1[i=j] − a_i)."""
    return a * (grad_a - (grad_a * a).sum(dim=1, keepdim=True))


ACTIVATIONS: dict[str, Activation] = {
    "identity": Activation("identity", lambda z: z, torch.ones_like, r"\phi(z)=z,\quad \phi'(z)=1"),
    "relu": Activation("relu", lambda z: torch.clamp(z, min=0), _relu_grad,
                       r"\phi(z)=\max(0,z),\quad \phi'(z)=\mathbb{1}[z>0]"),
    "leaky_relu": Activation("leaky_relu", _leaky, _leaky_grad,
                             r"\phi(z)=\max(0.01z,z),\quad \phi'(z)=1 \text{ if } z>0 \text{ else } 0.01"),
    "sigmoid": Activation("sigmoid", _sigmoid, _sigmoid_grad,
                          r"\phi(z)=\frac{1}{1+e^{-z}},\quad \phi'(z)=\phi(z)(1-\phi(z))"),
    "tanh": Activation("tanh", torch.tanh, _tanh_grad, r"\phi(z)=\tanh z,\quad \phi'(z)=1-\tanh^2 z"),
    "softmax": Activation("softmax", softmax, None,
                          r"a_i=\frac{e^{z_i}}{\sum_j e^{z_j}},\quad "
                          r"\frac{\partial L}{\partial z_i}=a_i\Big(g_i-\sum_j g_j a_j\Big)",
                          elementwise=False),
}


# ---- losses: value L(a, y) and ∂L/∂a, both with mean reduction as in torch.nn ----

def mse(a: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """L = mean over all B·k elements of (a − y)², as nn.MSELoss()."""
    return ((a - y) ** 2).mean()


def mse_grad(a: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """∂L/∂a = 2(a − y) / (B·k), shape (B, k)."""
    return 2.0 * (a - y) / a.numel()


def cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """L = −mean_r log softmax(z_r)[y_r], logits (B, k), y (B,) class indices, as nn.CrossEntropyLoss()."""
    shifted = logits - logits.max(dim=1, keepdim=True).values
    log_probs = shifted - torch.log(torch.exp(shifted).sum(dim=1, keepdim=True))
    return -log_probs[torch.arange(len(y)), y].mean()


def cross_entropy_grad(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Softmax fused with the loss: ∂L/∂z = (softmax(z) − onehot(y)) / B, shape (B, k)."""
    onehot = torch.zeros_like(logits)
    onehot[torch.arange(len(y)), y] = 1.0
    return (softmax(logits) - onehot) / logits.shape[0]


def bce(a: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """L = −mean[y log a + (1 − y) log(1 − a)] on a sigmoid output a ∈ (0, 1), as nn.BCELoss()."""
    # nn.BCELoss clamps each log at −100 so a saturated sigmoid gives a large finite loss, not inf.
    log_a = torch.clamp(torch.log(a), min=-100.0)
    log_1ma = torch.clamp(torch.log(1.0 - a), min=-100.0)
    return -(y * log_a + (1.0 - y) * log_1ma).mean()


def bce_grad(a: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """∂L/∂a = (a − y) / (a(1 − a)) / (B·k); times σ'(z) = a(1 − a) it fuses to δ = (a − y)/(B·k)."""
    return (a - y) / (a * (1.0 - a)) / a.numel()


def total(a: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """L = Σ a: every output gets upstream gradient 1 (the target is ignored). For studying a chain."""
    return a.sum()


def total_grad(a: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """∂L/∂a = 1 everywhere."""
    return torch.ones_like(a)


@dataclass(frozen=True)
class Loss:
    """A loss on the network output and its gradient with respect to that output."""

    name: str
    value: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    grad: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    latex: str
    class_targets: bool = False  # y holds class indices (B,) rather than values (B, k)


LOSSES: dict[str, Loss] = {
    "mse": Loss("mse", mse, mse_grad,
                r"L=\frac{1}{Bk}\sum_{r,i}(a_{ri}-y_{ri})^2,\quad \frac{\partial L}{\partial a}=\frac{2(a-y)}{Bk}"),
    "cross_entropy": Loss("cross_entropy", cross_entropy, cross_entropy_grad,
                          r"L=-\frac{1}{B}\sum_r \log \mathrm{softmax}(z_r)_{y_r},\quad "
                          r"\delta=\frac{\mathrm{softmax}(z)-\mathrm{onehot}(y)}{B}", class_targets=True),
    "bce": Loss("bce", bce, bce_grad,
                r"L=-\frac{1}{Bk}\sum y\log a+(1-y)\log(1-a),\quad \delta=\frac{a-y}{Bk}"),
    "sum": Loss("sum", total, total_grad, r"L=\sum_{r,i} a_{ri},\quad \frac{\partial L}{\partial a}=1"),
}
