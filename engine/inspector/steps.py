"""Optimizer steps on a spec's network, with the hand-written chain rule supplying every gradient.

One step: g = (∂L/∂W_l, ∂L/∂b_l) from chain_rule.backward, then engine.core.optim's update θ ← θ − η·(…).
The same data (x, y) is used at every step, so the loss curve is full-batch gradient descent.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from engine.core import chain_rule
from engine.core.optim import LESSON_OPTIMIZERS, make_optimizer
from engine.inspector.budget import steps_problem
from engine.inspector.materialize import materialize, with_parameters
from engine.inspector.spec import NetworkSpec

MAX_STEPS = 1000
MAX_LR = 100.0


@dataclass
class StepResult:
    spec: NetworkSpec  # the network after the last finite step, every parameter (and x, y) written out
    weights: list[torch.Tensor]  # W_l after, (n_l, n_{l-1})
    biases: list[torch.Tensor]  # b_l after, (n_l,)
    delta_w: list[torch.Tensor]  # W_l(after) − W_l(before)
    delta_b: list[torch.Tensor]  # b_l(after) − b_l(before)
    losses: list[float]  # losses[0] before any step, losses[k] after k steps
    diverged: bool  # a step made a parameter or the loss non-finite; it was undone and stepping stopped

    @property
    def loss_before(self) -> float:
        return self.losses[0]

    @property
    def loss_after(self) -> float:
        return self.losses[-1]


def check_step_request(optimizer: str, lr: float, steps: int) -> list[str]:
    """Problems with a step request, each saying what to change; [] when fine."""
    found = []
    if optimizer not in LESSON_OPTIMIZERS:
        found.append(f"unknown optimizer {optimizer!r}; use one of {', '.join(LESSON_OPTIMIZERS)}")
    if not isinstance(lr, (int, float)) or not math.isfinite(lr) or not 0 < lr <= MAX_LR:
        found.append(f"learning rate must be a number in (0, {MAX_LR:g}], got {lr!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= MAX_STEPS:
        found.append(f"steps must be a whole number 1–{MAX_STEPS}, got {steps!r}")
    return found


def run_steps(spec: NetworkSpec, optimizer: str = "sgd", lr: float = 0.1, steps: int = 1) -> StepResult:
    """`steps` updates of every W_l, b_l by `optimizer` at learning rate `lr`; ValueError on a bad request."""
    problems = check_step_request(optimizer, lr, steps)
    if not problems:  # each step is a forward and a backward pass: budget steps × the network's work
        problems = [p for p in [steps_problem(spec.sizes, spec.n_rows, steps)] if p]
    if problems:
        raise ValueError("; ".join(problems))
    m = materialize(spec)
    layers, params = m.layers, [{name: t.clone() for name, t in p.items()} for p in m.params]
    flat = [t for p in params for t in p.values()]
    opt = make_optimizer(optimizer, flat, lr=lr)
    losses = [_loss(layers, params, spec.loss, m.x, m.y)]
    diverged = False
    for _ in range(steps):
        saved = [t.clone() for t in flat]
        fwd = chain_rule.forward(layers, params, spec.loss, m.x, m.y)
        bwd = chain_rule.backward(layers, params, spec.loss, fwd, m.y)
        for p, g in zip(params, bwd.params, strict=True):
            for name, t in p.items():
                t.grad = g[name]
        opt.step()
        loss = _loss(layers, params, spec.loss, m.x, m.y)
        if not math.isfinite(loss) or not all(torch.isfinite(t).all() for t in flat):
            for t, old in zip(flat, saved, strict=True):  # undo: keep the last finite network
                t.copy_(old)
            diverged = True
            break
        losses.append(loss)
    ws, bs = [p["weight"] for p in params], [p["bias"] for p in params]
    new_spec = with_parameters(spec, ws, bs, m.x, m.y)
    new_spec.name = ""  # stepped weights: no longer the named preset
    return StepResult(new_spec, ws, bs, [w - w0 for w, w0 in zip(ws, m.weights, strict=True)],
                      [b - b0 for b, b0 in zip(bs, m.biases, strict=True)], losses, diverged)


def _loss(layers, params, loss, x, y) -> float:
    return chain_rule.forward(layers, params, loss, x, y).loss.item()
