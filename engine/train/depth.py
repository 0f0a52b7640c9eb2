"""What BatchNorm and residual connections change in a deep sigmoid/tanh network: the gradient norm of every
linear layer after some steps of training, for the same depth plain, with BatchNorm and with skip connections.

The measurement is full-batch gradient descent (torch.optim.SGD, no momentum) on a 2-D set's training split, so
it is deterministic and reproducible from the seed: ‖∂L/∂W_l‖_F (Frobenius) of every linear layer l in run order,
taken from the gradient of step `step` (the one computed after step − 1 updates). Plain: ∂L/∂a_{l-1} = (δ_l W_l)
and δ_{l-1} = ∂L/∂a_{l-1} ⊙ φ'(z_{l-1}) multiply a factor < 1 per layer (tanh' ≤ 1, sigmoid' ≤ ¼), so the first
layers' gradients shrink geometrically; BatchNorm keeps each z_l at unit scale where φ' is large; a residual
block adds the skip's δ unchanged (∂L/∂x = δ + the inner path's).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.core.ops import LOSSES
from engine.train.config import TrainConfig
from engine.train.loop import load_data
from engine.train.model import build_model

VARIANTS = ("plain", "batchnorm", "residual")
MAX_DEPTH = 16
MAX_STEPS = 500  # a page visitor's whole measurement: 3 variants × 500 full-batch steps of ≤ 16 × 16 units


def deep_layers(variant: str, depth: int = 10, width: int = 16, activation: str = "tanh", n_out: int = 2) -> str:
    """The layers string of `depth` hidden layers of `width` units (then n_out outputs) for one variant.
    batchnorm: each hidden layer is linear → bn → φ; residual: the first hidden layer maps the input to the
    width, each later one is a block x + φ(x W_lᵀ + b_l). Every variant has depth + 1 linear layers."""
    hidden = f"{width}:{activation}"
    body = {"plain": [hidden] * depth,
            "batchnorm": [f"{width}:identity,bn:{activation}"] * depth,
            "residual": [hidden] + [f"res[{hidden}]:identity"] * (depth - 1)}[variant]
    return ",".join(body + [f"{n_out}:identity"])


@dataclass
class DepthProfile:
    variant: str
    layers: str  # the layers string measured
    grad_norms: list[float]  # ‖∂L/∂W_l‖_F of linear layer l = 1 … depth + 1, at step `step`
    loss: float  # the training loss at that step (before its update)


def depth_profile(variant: str, *, depth: int = 10, width: int = 16, activation: str = "tanh", step: int = 100,
                  lr: float = 0.1, seed: int = 0, dataset: str = "moons", init: str = "xavier") -> DepthProfile:
    """One variant measured (see the module docstring)."""
    if not (1 <= depth <= MAX_DEPTH and 1 <= step <= MAX_STEPS):
        raise ValueError(f"depth must be 1–{MAX_DEPTH} and step 1–{MAX_STEPS} (got {depth}, {step})")
    cfg = TrainConfig(dataset=dataset, layers=deep_layers(variant, depth, width, activation), lr=lr, seed=seed,
                      init=init, batch_size="full", loss="cross_entropy").check()
    data = load_data(cfg)
    model = build_model(cfg, data.input_size, torch.device("cpu"))
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    loss_fn = LOSSES[cfg.loss].torch
    for k in range(step):
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(data.x_train), data.y_train)
        loss.backward()
        if k < step - 1:  # the last step's gradient is the one measured
            opt.step()
    # a linear layer's W is the only 2-D parameter of any kind (γ, β, b are 1-D); params() lists run order
    norms = [torch.linalg.vector_norm(p.grad).item() for m in model.linears for p in m.params().values()
             if p.dim() == 2]
    return DepthProfile(variant, cfg.layers, norms, loss.item())
