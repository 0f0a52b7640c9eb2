"""The activations and losses as torch expressions for the exported program, one entry per op of
engine.core.ops (the same names): forward, and the hand-written backward as the tutorials write it.

Templates take variable names: {z}, {a} (B, n) and {da} = ∂L/∂a (B, n) for activations (the backward is
δ = ∂L/∂z); {a} (B, k) and {y} for losses.
"""
from __future__ import annotations

from dataclasses import dataclass

from engine.core.ops import LEAKY_SLOPE


@dataclass(frozen=True)
class ActivationCode:
    forward: str  # a = φ(z)
    backward: str  # δ = ∂L/∂a ⊙ φ'(z) (softmax: its Jacobian product, row by row)
    why: str  # the comment beside the backward line


ACTIVATION_CODE = {
    "identity": ActivationCode("{z}", "{da}", "φ'(z) = 1"),
    "relu": ActivationCode("torch.relu({z})", "{da} * ({z} > 0)", "φ'(z) = 1[z > 0]"),
    "leaky_relu": ActivationCode(f"F.leaky_relu({{z}}, {LEAKY_SLOPE!r})",
                                 f"torch.where({{z}} > 0, {{da}}, {LEAKY_SLOPE!r} * {{da}})",
                                 f"φ'(z) = 1 if z > 0 else {LEAKY_SLOPE!r}"),
    "sigmoid": ActivationCode("torch.sigmoid({z})", "{da} * {a} * (1 - {a})", "σ'(z) = σ(z)(1 − σ(z)) = a(1 − a)"),
    "tanh": ActivationCode("torch.tanh({z})", "{da} * (1 - {a} ** 2)", "tanh'(z) = 1 − tanh²(z) = 1 − a²"),
    "softmax": ActivationCode("torch.softmax({z}, dim=1)", "{a} * ({da} - ({da} * {a}).sum(dim=1, keepdim=True))",
                              "row-wise Jacobian product: δ_i = a_i (g_i − Σ_j g_j a_j)"),
}


@dataclass(frozen=True)
class LossCode:
    value: str  # L from the output a (B, k) and the target y
    grad: str  # ∂L/∂a (B, k)
    why: str  # the comment beside the gradient line
    fused: str | None = None  # δ_L when the output activation is the loss's own (engine.core.ops.Loss.output)
    fused_why: str = ""


LOSS_CODE = {
    "mse": LossCode("(({a} - {y}) ** 2).mean()", "2 * ({a} - {y}) / {a}.numel()",
                    "L = mean of (a − y)² over all B·k outputs"),
    "cross_entropy": LossCode("F.cross_entropy({a}, {y})",
                              "(torch.softmax({a}, dim=1) - F.one_hot({y}, {a}.shape[1])) / {a}.shape[0]",
                              "softmax and cross-entropy fused on the logits: (softmax(z) − onehot(y)) / B",
                              fused="{da}", fused_why="identity output: δ_L = ∂L/∂a_L"),
    "bce": LossCode("F.binary_cross_entropy({a}, {y})", "({a} - {y}) / ({a} * (1 - {a})) / {a}.numel()",
                    "L = −mean[y log a + (1 − y) log(1 − a)]: ∂L/∂a = (a − y) / (a(1 − a)) / (B·k)",
                    fused="({a} - {y}) / {a}.numel()",
                    fused_why="sigmoid and BCE fused: ∂L/∂a · a(1 − a) = (a − y)/(B·k), finite when a saturates"),
    "sum": LossCode("{a}.sum()", "torch.ones_like({a})", "L = Σ a: every output gets upstream gradient 1"),
}
