"""Optimizers written out from their update rules, with the same interface and numbers as `torch.optim`.

Each class subclasses `torch.optim.Optimizer` (so `param_groups`, `state`, `zero_grad`, `state_dict` and
the lr schedulers work) but writes its own `step()`. State keys match torch's (`momentum_buffer`,
`exp_avg`, `exp_avg_sq`, …) except `step`, which is a Python int here so `step()` never syncs a device.
Notation in the docstrings: g_t gradient, m_t first moment, v_t second moment, θ_t parameters,
η learning rate, λ weight decay.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch.optim import Optimizer

Params = Iterable[torch.Tensor] | Iterable[dict[str, Any]]


def _check_non_negative(**values: Any) -> None:
    """Raise ValueError naming the first value that is not a real number >= 0 (NaN included)."""
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
            raise ValueError(f"Invalid {name}: {value!r}; {name} must be a number >= 0")


def _check_betas(betas: Any) -> None:
    """Raise ValueError unless betas is a pair of numbers in [0, 1)."""
    if not isinstance(betas, tuple | list) or len(betas) != 2:
        raise ValueError(f"Invalid betas: {betas!r}; give a pair (beta1, beta2), e.g. (0.9, 0.999)")
    for index, beta in enumerate(betas):
        if isinstance(beta, bool) or not isinstance(beta, int | float) or not 0.0 <= beta < 1.0:
            raise ValueError(f"Invalid beta parameter at index {index}: {beta!r}; it must be in [0, 1)")


class _HandWritten(Optimizer):
    """Shared `step()`: run the closure, then apply the subclass's `_update` to each parameter with a grad."""

    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        """One update of every parameter that has a gradient; returns the closure's loss, if any."""
        loss = None
        if closure is not None:
            with torch.enable_grad():  # the closure recomputes the loss and needs autograd
                loss = closure()
        with torch.no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is None:
                        continue  # a frozen or unused parameter: no update and no state
                    if p.grad.is_sparse:
                        raise RuntimeError(f"{type(self).__name__} does not support sparse gradients")
                    self._update(p, p.grad, self.state[p], group)
        return loss

    def _update(self, p: torch.Tensor, grad: torch.Tensor, state: dict, group: dict) -> None:
        raise NotImplementedError


class SGD(_HandWritten):
    """Stochastic gradient descent, optionally with (Nesterov) momentum μ, dampening τ, weight decay λ.

    g_t = ∇θ L(θ_{t-1}) + λ θ_{t-1}          (−∇θ L when maximize)
    m_t = g_t                                 at t = 1
    m_t = μ m_{t-1} + (1 − τ) g_t             at t > 1
    d_t = g_t + μ m_t if nesterov, m_t if μ > 0, else g_t
    θ_t = θ_{t-1} − η d_t
    """

    def __init__(self, params: Params, lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, maximize: bool = False) -> None:
        _check_non_negative(lr=lr, momentum=momentum, weight_decay=weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening; "
                             f"got momentum={momentum!r}, dampening={dampening!r}")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def _update(self, p: torch.Tensor, grad: torch.Tensor, state: dict, group: dict) -> None:
        mu = group["momentum"]
        g = grad.neg() if group["maximize"] else grad
        if group["weight_decay"] != 0:
            g = g.add(p, alpha=group["weight_decay"])  # a new tensor: p.grad itself stays untouched
        if mu != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                # torch starts the buffer at g_1 itself, not at μ·0 + (1 − τ) g_1
                buf = state["momentum_buffer"] = g.clone()
            else:
                buf.mul_(mu).add_(g, alpha=1 - group["dampening"])
            g = g.add(buf, alpha=mu) if group["nesterov"] else buf
        p.add_(g, alpha=-group["lr"])


class Adagrad(_HandWritten):
    """Adagrad: each coordinate's step shrinks with its accumulated squared gradients.

    g_t = ∇θ L(θ_{t-1}) + λ θ_{t-1}
    η_t = η / (1 + (t − 1) γ)                 (γ = lr_decay)
    v_t = v_{t-1} + g_t²                      (v_0 = initial_accumulator_value)
    θ_t = θ_{t-1} − η_t g_t / (√v_t + ε)
    """

    def __init__(self, params: Params, lr: float = 1e-2, lr_decay: float = 0, weight_decay: float = 0,
                 initial_accumulator_value: float = 0, eps: float = 1e-10) -> None:
        _check_non_negative(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                            initial_accumulator_value=initial_accumulator_value, eps=eps)
        defaults = dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, eps=eps)
        super().__init__(params, defaults)

    def _update(self, p: torch.Tensor, grad: torch.Tensor, state: dict, group: dict) -> None:
        if not state:
            state["step"] = 0
            state["sum"] = torch.full_like(p, group["initial_accumulator_value"],
                                           memory_format=torch.preserve_format)
        state["step"] += 1
        g = grad
        if group["weight_decay"] != 0:
            g = g.add(p, alpha=group["weight_decay"])
        clr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        state["sum"].addcmul_(g, g, value=1)
        std = state["sum"].sqrt().add_(group["eps"])
        p.addcdiv_(g, std, value=-clr)


class RMSprop(_HandWritten):
    """RMSprop: divide the gradient by a running root-mean-square of recent gradients.

    g_t = ∇θ L(θ_{t-1}) + λ θ_{t-1}
    v_t = α v_{t-1} + (1 − α) g_t²
    centered:  ḡ_t = α ḡ_{t-1} + (1 − α) g_t,  ṽ_t = v_t − ḡ_t²;  else ṽ_t = v_t
    μ > 0:     b_t = μ b_{t-1} + g_t / (√ṽ_t + ε),  θ_t = θ_{t-1} − η b_t
    μ = 0:     θ_t = θ_{t-1} − η g_t / (√ṽ_t + ε)
    (v_0 = ḡ_0 = b_0 = 0)
    """

    def __init__(self, params: Params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0, momentum: float = 0, centered: bool = False) -> None:
        _check_non_negative(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum)
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                        centered=centered)
        super().__init__(params, defaults)

    def _update(self, p: torch.Tensor, grad: torch.Tensor, state: dict, group: dict) -> None:
        alpha, mu = group["alpha"], group["momentum"]
        if not state:
            state["step"] = 0
            state["square_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            if mu > 0:
                state["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            if group["centered"]:
                state["grad_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        state["step"] += 1
        g = grad
        if group["weight_decay"] != 0:
            g = g.add(p, alpha=group["weight_decay"])
        state["square_avg"].mul_(alpha).addcmul_(g, g, value=1 - alpha)
        if group["centered"]:
            # lerp_(g, 1 − α) is ḡ + (1 − α)(g − ḡ) = α ḡ + (1 − α) g, rounded exactly as torch does
            grad_avg = state["grad_avg"].lerp_(g, 1 - alpha)
            # subtracting the squared mean turns the second moment into a variance estimate
            avg = state["square_avg"].addcmul(grad_avg, grad_avg, value=-1).sqrt_()
        else:
            avg = state["square_avg"].sqrt()
        avg.add_(group["eps"])
        if mu > 0:
            buf = state["momentum_buffer"].mul_(mu).addcdiv_(g, avg)
            p.add_(buf, alpha=-group["lr"])
        else:
            p.addcdiv_(g, avg, value=-group["lr"])


class Adam(_HandWritten):
    """Adam: momentum on the gradient, divided by the RMS of the gradient, both bias-corrected.

    g_t = ∇θ L(θ_{t-1}) + λ θ_{t-1}
    m_t = β₁ m_{t-1} + (1 − β₁) g_t
    v_t = β₂ v_{t-1} + (1 − β₂) g_t²
    amsgrad:  v_t^max = max(v_{t-1}^max, v_t), used in place of v_t below
    m̂_t = m_t / (1 − β₁ᵗ),   v̂_t = v_t / (1 − β₂ᵗ)
    θ_t = θ_{t-1} − η m̂_t / (√v̂_t + ε)
    (m_0 = v_0 = 0)
    """

    def __init__(self, params: Params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, amsgrad: bool = False) -> None:
        _check_non_negative(lr=lr, eps=eps, weight_decay=weight_decay)
        _check_betas(betas)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)
        super().__init__(params, defaults)

    def _decay(self, p: torch.Tensor, grad: torch.Tensor, group: dict) -> torch.Tensor:
        """Adam's L2 weight decay: fold λ θ_{t-1} into the gradient (so it is rescaled by 1/√v̂_t)."""
        return grad.add(p, alpha=group["weight_decay"]) if group["weight_decay"] != 0 else grad

    def _update(self, p: torch.Tensor, grad: torch.Tensor, state: dict, group: dict) -> None:
        beta1, beta2 = group["betas"]
        if not state:
            state["step"] = 0
            state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        state["step"] += 1
        t = state["step"]
        g = self._decay(p, grad, group)
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m.lerp_(g, 1 - beta1)  # = β₁ m + (1 − β₁) g, rounded exactly as torch does
        v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
        if group["amsgrad"]:
            v = torch.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
        # torch's arrangement: the 1/(1 − β₁ᵗ) goes into the step size, √(1 − β₂ᵗ) under ε in the denominator
        step_size = group["lr"] / (1 - beta1**t)
        denom = v.sqrt().div_((1 - beta2**t) ** 0.5).add_(group["eps"])
        p.addcdiv_(m, denom, value=-step_size)


class AdamW(Adam):
    """AdamW: Adam with decoupled weight decay — θ shrinks directly, not through the gradient.

    θ'_{t-1} = θ_{t-1} (1 − η λ)
    m_t = β₁ m_{t-1} + (1 − β₁) g_t,   v_t = β₂ v_{t-1} + (1 − β₂) g_t²   (g_t = ∇θ L(θ_{t-1}))
    amsgrad:  v_t^max = max(v_{t-1}^max, v_t), used in place of v_t below
    m̂_t = m_t / (1 − β₁ᵗ),   v̂_t = v_t / (1 − β₂ᵗ)
    θ_t = θ'_{t-1} − η m̂_t / (√v̂_t + ε)
    """

    def __init__(self, params: Params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)

    def _decay(self, p: torch.Tensor, grad: torch.Tensor, group: dict) -> torch.Tensor:
        """Decoupled decay: θ ← θ (1 − η λ) in place; the gradient is left as it is."""
        if group["weight_decay"] != 0:
            p.mul_(1 - group["lr"] * group["weight_decay"])
        return grad


OPTIMIZERS: dict[str, type[Optimizer]] = {
    "sgd": SGD, "adagrad": Adagrad, "rmsprop": RMSprop, "adam": Adam, "adamw": AdamW,
}
TRAIN_OPTIMIZERS = tuple(OPTIMIZERS)  # training: torch.optim's classes, momentum/nesterov are settings of sgd
# The Optimizers page and the Inspector's steps: update rules by name, "momentum" and "nesterov" being
# SGD with μ = 0.9 (make_optimizer's defaults).
LESSON_OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam")

# For st.latex. g_t = ∇_θ L(θ_{t-1}) + λθ_{t-1} in every rule except AdamW's.
UPDATE_RULES: dict[str, str] = {
    "sgd": r"\theta_t = \theta_{t-1} - \eta\, g_t",
    "momentum": (r"\begin{aligned} m_t &= \mu\, m_{t-1} + (1-\tau)\, g_t \quad (m_1 = g_1) \\"
                 r" \theta_t &= \theta_{t-1} - \eta\, m_t \end{aligned}"),
    "nesterov": (r"\begin{aligned} m_t &= \mu\, m_{t-1} + g_t \quad (m_1 = g_1) \\"
                 r" \theta_t &= \theta_{t-1} - \eta\, (g_t + \mu\, m_t) \end{aligned}"),
    "adagrad": (r"\begin{aligned} \eta_t &= \frac{\eta}{1 + (t-1)\,\gamma} \\ v_t &= v_{t-1} + g_t^2 \\"
                r" \theta_t &= \theta_{t-1} - \eta_t\, \frac{g_t}{\sqrt{v_t} + \epsilon} \end{aligned}"),
    "rmsprop": (r"\begin{aligned} v_t &= \alpha\, v_{t-1} + (1-\alpha)\, g_t^2 \\"
                r" \theta_t &= \theta_{t-1} - \eta\, \frac{g_t}{\sqrt{v_t} + \epsilon} \end{aligned}"),
    "adam": (r"\begin{aligned} m_t &= \beta_1 m_{t-1} + (1-\beta_1)\, g_t \\"
             r" v_t &= \beta_2 v_{t-1} + (1-\beta_2)\, g_t^2 \\"
             r" \hat m_t &= \frac{m_t}{1-\beta_1^t}, \quad \hat v_t = \frac{v_t}{1-\beta_2^t} \\"
             r" \theta_t &= \theta_{t-1} - \eta\, \frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon} \end{aligned}"),
    "adamw": (r"\begin{aligned} \theta'_{t-1} &= \theta_{t-1}\,(1 - \eta\lambda) \\"
              r" m_t &= \beta_1 m_{t-1} + (1-\beta_1)\, g_t \\"
              r" v_t &= \beta_2 v_{t-1} + (1-\beta_2)\, g_t^2 \\"
              r" \hat m_t &= \frac{m_t}{1-\beta_1^t}, \quad \hat v_t = \frac{v_t}{1-\beta_2^t} \\"
              r" \theta_t &= \theta'_{t-1} - \eta\, \frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}"
              r" \end{aligned}"),
}

_TORCH_OPTIMIZERS: dict[str, type[Optimizer]] = {
    "sgd": torch.optim.SGD, "adagrad": torch.optim.Adagrad, "rmsprop": torch.optim.RMSprop,
    "adam": torch.optim.Adam, "adamw": torch.optim.AdamW,
}


def make_optimizer(name: str, params: Params, impl: str = "manual", **hyper: Any) -> Optimizer:
    """Build optimizer `name` (a key of UPDATE_RULES) from this module (impl="manual") or torch.optim.

    "momentum" is SGD with momentum=0.9 and "nesterov" is SGD with momentum=0.9, nesterov=True,
    unless `hyper` says otherwise. Every other keyword goes to the constructor unchanged.
    """
    key = name.strip().lower()
    if key not in UPDATE_RULES:
        raise ValueError(f"Unknown optimizer {name!r}; choose one of {', '.join(UPDATE_RULES)}")
    if impl not in ("manual", "torch"):
        raise ValueError(f"Unknown impl {impl!r}; use 'manual' (this module) or 'torch' (torch.optim)")
    if key in ("momentum", "nesterov"):
        hyper.setdefault("momentum", 0.9)
        if key == "nesterov":
            hyper.setdefault("nesterov", True)
        key = "sgd"
    table = OPTIMIZERS if impl == "manual" else _TORCH_OPTIMIZERS
    return table[key](params, **hyper)
