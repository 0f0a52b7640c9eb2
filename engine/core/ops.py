"""The table of operations: each activation and loss defined once.

Each entry holds its forward, its hand-written derivative (no autograd: the manual backward pass is built
from these), its torch twin (the reference for the autograd column, finite differences and training), its
LaTeX, and what the health panel counts for it (dead units, saturation). Shapes: z, a are (batch, units);
batches are rows (DESIGN.md notation).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

LEAKY_SLOPE = 0.01  # same default negative slope as torch.nn.LeakyReLU
SATURATION = 0.01  # φ'(z) below this (but not 0) counts as saturated: the gradient all but vanishes

Fn = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Activation:
    """φ and its backward: grad_z = backward(z, a, grad_a) = ∂L/∂a ⊙ φ'(z) (Jacobian product for softmax)."""

    name: str
    forward: Fn
    derivative: Fn | None  # elementwise φ'(z); None for softmax
    torch: Fn  # the same φ by torch's own ops (a new autograd node even for identity)
    latex: str  # φ(z) and φ'(z), shown in the UI
    elementwise: bool = True
    kink: bool = False  # φ' jumps at z = 0: a finite difference across 0 is no derivative
    can_die: bool = False  # φ' = 0 for z ≤ 0: a unit with z ≤ 0 on every row passes no gradient (dead)
    slope_from_a: Fn | None = None  # φ'(z) written with a = φ(z), for the saturation count on outputs
    # δ(z, a, ∂L/∂a) in one step where ∂L/∂a ⊙ φ'(z) has a shorter exact form (the training step runs this
    # every batch): identity's δ is ∂L/∂a itself, ReLU's keeps ∂L/∂a where z > 0 and is 0 elsewhere
    delta: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor] | None = None

    def __reduce__(self):  # pickled as a reference into the table (its lambdas cannot be pickled)
        return activation, (self.name,)

    def backward(self, z: torch.Tensor, a: torch.Tensor, grad_a: torch.Tensor) -> torch.Tensor:
        """δ = ∂L/∂z from ∂L/∂a, shape (batch, units)."""
        if self.delta is not None:
            return self.delta(z, a, grad_a)
        if self.elementwise:
            return grad_a * self.derivative(z)
        return softmax_backward(a, grad_a)

    def dead_fraction(self, z: torch.Tensor) -> torch.Tensor:
        """Fraction of units (columns of z, (B, n)) with z ≤ 0 on every row; 0 for kinds that cannot die.

        z = 0 counts as dead: φ'(0) := 0 (torch's convention), so such a unit passes no gradient either.
        Read as "the largest z of the column ≤ 0" (the same units, a NaN column alive either way): one
        reduction, half the time of a (B, n) comparison and .all (the health stats run it every step)."""
        if not self.can_die:
            return torch.zeros((), dtype=z.dtype, device=z.device)
        return (z.amax(dim=0) <= 0).to(z.dtype).mean()

    def saturated_fraction(self, a: torch.Tensor) -> torch.Tensor:
        """Fraction of units × rows on a flat tail: φ'(z) < SATURATION, read from a = φ(z) (B, n)."""
        if self.slope_from_a is None:
            return torch.zeros((), dtype=a.dtype, device=a.device)
        return (self.slope_from_a(a) < SATURATION).to(a.dtype).mean()


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


def _relu_delta(z, a, grad_a):
    """∂L/∂a ⊙ 1[z > 0] as one kernel (no mask tensor, no multiply): aten's threshold_backward keeps grad_a
    where z > 0 and writes 0 elsewhere — the same rule as _relu_grad, φ'(0) := 0."""
    return torch.ops.aten.threshold_backward(grad_a, z, 0)


def _leaky(z):
    return torch.where(z > 0, z, LEAKY_SLOPE * z)


def _leaky_grad(z):
    return torch.where(z > 0, torch.ones_like(z), torch.full_like(z, LEAKY_SLOPE))


def softmax(z: torch.Tensor) -> torch.Tensor:
    """softmax over units: exp(z − max z) / Σ exp(z − max z); shifting by the max avoids overflow."""
    e = (z - z.max(dim=1, keepdim=True).values).exp_()  # in place on the fresh difference: one (B, k) tensor
    return e.div_(e.sum(dim=1, keepdim=True))


def softmax_backward(a: torch.Tensor, grad_a: torch.Tensor) -> torch.Tensor:
    """Row-wise Jacobian product: ∂L/∂z_i = a_i (g_i − Σ_j g_j a_j), since ∂a_j/∂z_i = a_j(1[i=j] − a_i)."""
    return a * (grad_a - (grad_a * a).sum(dim=1, keepdim=True))


ACTIVATIONS: dict[str, Activation] = {a.name: a for a in (
    Activation("identity", lambda z: z, torch.ones_like, lambda z: z * 1, r"\phi(z)=z,\quad \phi'(z)=1",
               delta=lambda z, a, grad_a: grad_a),
    Activation("relu", lambda z: torch.clamp(z, min=0), _relu_grad, torch.relu,
               r"\phi(z)=\max(0,z),\quad \phi'(z)=\mathbb{1}[z>0]", kink=True, can_die=True, delta=_relu_delta),
    Activation("leaky_relu", _leaky, _leaky_grad, lambda z: F.leaky_relu(z, LEAKY_SLOPE),
               rf"\phi(z)=\max({LEAKY_SLOPE:g}z,z),\quad \phi'(z)=1 \text{{ if }} z>0 \text{{ else }} {LEAKY_SLOPE:g}",
               kink=True),  # φ' = LEAKY_SLOPE > 0 below 0: it cannot die
    Activation("sigmoid", _sigmoid, _sigmoid_grad, torch.sigmoid,
               r"\phi(z)=\frac{1}{1+e^{-z}},\quad \phi'(z)=\phi(z)(1-\phi(z))", slope_from_a=lambda a: a * (1 - a)),
    Activation("tanh", torch.tanh, _tanh_grad, torch.tanh, r"\phi(z)=\tanh z,\quad \phi'(z)=1-\tanh^2 z",
               slope_from_a=lambda a: 1 - a * a),
    Activation("softmax", softmax, None, lambda z: torch.softmax(z, dim=-1),
               r"a_i=\frac{e^{z_i}}{\sum_j e^{z_j}},\quad "
               r"\frac{\partial L}{\partial z_i}=a_i\Big(g_i-\sum_j g_j a_j\Big)", elementwise=False),
)}


# ---- losses: value L(a, y) and ∂L/∂a, both with mean reduction as in torch.nn (except `sum`) ----

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
    return -log_probs[torch.arange(len(y), device=y.device), y].mean()


def cross_entropy_grad(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Softmax fused with the loss: ∂L/∂z = (softmax(z) − onehot(y)) / B, shape (B, k)."""
    # softmax by torch's one kernel (ours, `softmax` above, is five ops; the Activations page checks the two
    # agree): a fresh (B, k) tensor, finished in place (the training step runs this every batch)
    grad = torch.softmax(logits, dim=1)
    grad.scatter_(1, y.unsqueeze(1), -1.0, reduce="add")  # − onehot(y): one kernel, no index tensor
    return grad.div_(logits.shape[0])


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


# ---- per-row losses ℓ_r (R,) for finite differences: L = scale · Σ_r ℓ_r ----

def _mse_rows(a, y):
    return ((a - y) ** 2).sum(dim=1)


def _ce_rows(a, y):
    return torch.logsumexp(a, dim=1) - a.gather(1, y.view(-1, 1)).squeeze(1)  # −log softmax(a)_y


def _bce_rows(a, y):
    la, l1 = torch.clamp(torch.log(a), min=-100), torch.clamp(torch.log(1 - a), min=-100)
    return -(y * la + (1 - y) * l1).sum(dim=1)


def _bce_rows_from_logits(z, y):
    """ℓ_r of bce on σ(z), from the logits: −log σ(z) = softplus(−z), −log(1 − σ(z)) = softplus(z).

    Computing log(1 − a) from a = σ(z) ≈ 1 loses ~ε/(1 − a) relative precision, which the difference
    quotient divides by h; the logit form is exact to ε. Clamped at 100 as nn.BCELoss clamps log at −100.
    """
    return (y * torch.clamp(F.softplus(-z), max=100) + (1 - y) * torch.clamp(F.softplus(z), max=100)).sum(dim=1)


def _bce_fused(z, a, y):
    """σ and bce fused: ∂L/∂a · σ'(z) = (a − y)/(a(1 − a)) · a(1 − a) = (a − y)/(B·k), finite at a ∈ {0, 1}."""
    return (a - y) / a.numel()


@dataclass(frozen=True)
class Loss:
    """A loss on the network output, its gradient, its torch twin, and what the output layer must be."""

    name: str
    value: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    grad: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    torch: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # torch.nn.functional's version
    rows: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # ℓ_r per row (R,), L = scale(B, k) · Σ_r ℓ_r
    latex: str
    reduction: str  # "elements": mean over B·k outputs; "rows": mean over B rows; "sum": no mean
    class_targets: bool = False  # y holds class indices (B,) rather than values (B, k)
    output: str | None = None  # the activation the output layer must have (None: any)
    min_units: int = 1
    trainable: bool = True  # offered for training
    unit_interval: bool = False  # defined for outputs a ∈ (0, 1) only; ∂L/∂a blows up like 1/min(a, 1 − a)
    fused: Callable | None = None  # δ_L(z, a, y) when the output activation is `output` and they simplify
    rows_from_logits: Callable | None = None  # ℓ_r from z_L, more exact than from a_L (with `output`)

    def __reduce__(self):  # pickled as a reference into the table
        return loss_by_name, (self.name,)

    def scale(self, batch: int, k: int) -> float:
        """L = scale · Σ_r ℓ_r: 1/(B·k), 1/B, or 1 for sum."""
        return {"elements": 1.0 / (batch * k), "rows": 1.0 / batch, "sum": 1.0}[self.reduction]

    @property
    def reduction_caption(self) -> str:
        """How the loss combines the batch, in words (the Math tab's caption)."""
        return {"elements": "mean over the batch's B·k outputs, as torch.nn does",
                "rows": "mean over the batch's B rows, as torch.nn does",
                "sum": "the sum over every output, no division by B: ∂L/∂a = 1"}[self.reduction]


LOSSES: dict[str, Loss] = {loss.name: loss for loss in (
    Loss("mse", mse, mse_grad, F.mse_loss, _mse_rows,
         r"L=\frac{1}{Bk}\sum_{r,i}(a_{ri}-y_{ri})^2,\quad \frac{\partial L}{\partial a}=\frac{2(a-y)}{Bk}",
         "elements"),
    Loss("cross_entropy", cross_entropy, cross_entropy_grad, F.cross_entropy, _ce_rows,
         r"L=-\frac{1}{B}\sum_r \log \mathrm{softmax}(z_r)_{y_r},\quad "
         r"\delta=\frac{\mathrm{softmax}(z)-\mathrm{onehot}(y)}{B}",
         "rows", class_targets=True,
         output="identity", min_units=2),
    Loss("bce", bce, bce_grad, F.binary_cross_entropy, _bce_rows,
         r"L=-\frac{1}{Bk}\sum_{r,i}\big[y_{ri}\log a_{ri}+(1-y_{ri})\log(1-a_{ri})\big],\quad "
         r"\delta=\frac{a-y}{Bk}",
         "elements", output="sigmoid", fused=_bce_fused, unit_interval=True,
         rows_from_logits=_bce_rows_from_logits),
    Loss("sum", total, total_grad, lambda a, y: a.sum(), lambda a, y: a.sum(dim=1),
         r"L=\sum_{r,i} a_{ri},\quad \frac{\partial L}{\partial a}=1",
         "sum", trainable=False),
)}



def activation(name: str) -> Activation:
    return ACTIVATIONS[name]


def loss_by_name(name: str) -> Loss:
    return LOSSES[name]


TRAIN_LOSSES = tuple(name for name, loss in LOSSES.items() if loss.trainable)

_OUTPUT_WHY = {"identity": "takes logits and applies softmax itself (fused)", "sigmoid": "works on probabilities"}


def output_layer_problems(loss: str, activation: str, units: int | None = None) -> list[str]:
    """What the output layer (its activation and units) must be for this loss; [] when it fits."""
    spec = LOSSES[loss]
    found = []
    if spec.output is not None and activation != spec.output:
        found.append(f"{loss} {_OUTPUT_WHY[spec.output]}: make the last layer {spec.output!r}, not {activation!r}")
    if isinstance(units, int) and units < spec.min_units:
        found.append(f"{loss} needs at least {spec.min_units} output units (one per class)")
    return found


def output_delta(loss: str, activation: str, z, a, y) -> tuple[torch.Tensor, torch.Tensor]:
    """(∂L/∂a_L, δ_L) at the output layer.

    cross_entropy takes logits (a_L = z_L, identity) and its ∂L/∂a already is δ = (softmax(z) − onehot(y))/B.
    bce on a sigmoid output fuses: δ = (a − y)/(B·k), which stays finite when a saturates (0 · ∞ unfused).
    """
    spec = LOSSES[loss]
    grad_a = spec.grad(a, y)
    if spec.fused is not None and activation == spec.output:
        return grad_a, spec.fused(z, a, y)
    return grad_a, ACTIVATIONS[activation].backward(z, a, grad_a)
