"""The full-training-set loss at many parameter points at once: L(θ_g) for G flat vectors θ_g (P,).

One forward per chunk of points, vectorised with torch.func.vmap over torch.func.functional_call of the
run's own model (the same layers and activations that trained it, so no forward is written twice): for a
linear layer the batch of points turns z = a Wᵀ + b into one batched matmul, (G, rows, in) @ (G, in, out).
Rows are chunked too, and the loss is the mean over all N training rows, as the trainer's:
L = Σ_chunks (n_c / N) · mean_c, which is the mean over rows (or over rows × outputs for mse) of the whole set.
"""
from __future__ import annotations

from dataclasses import replace

import torch
from torch.func import functional_call, vmap

from engine.landscape import LandscapeError
from engine.landscape.trajectory import layout
from engine.train.model import build_model, loss_fn, targets

ACTIVATION_BYTES = 256 * 1024 * 1024  # per chunk: points × rows × widest layer output × 4 bytes × 3 live tensors
ROW_CHUNK = 8192


def landscape_device() -> torch.device:
    """CUDA when present (vmap'd matmuls are what a GPU is for), else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class LossEvaluator:
    """L(θ) over a run's whole training split, for many θ at once, in evaluation mode (dropout off), as the
    trainer's evaluate."""

    def __init__(self, cfg, data, device: torch.device | None = None):
        self.device = device or landscape_device()
        # autograd backward: the hand-written one is an autograd.Function, which vmap does not need here
        self.model = build_model(replace(cfg, backward="autograd"), data.input_size, self.device).eval()
        if any(True for _ in self.model.buffers()):
            raise LandscapeError("this network keeps running statistics (batchnorm), which are state besides its "
                                 "weights: a plane of weights alone has no loss at its points; use runs without bn")
        self.layout = layout(self.model)
        self.sizes = [shape.numel() for _, shape in self.layout]
        self.x = data.x_train.to(self.device)
        self.t = targets(cfg, data, data.y_train).to(self.device)
        self.loss = loss_fn(cfg.loss)
        widest = max(m.out_features for m in self.model.linears)  # x itself is shared by every point
        self.rows = min(len(self.x), ROW_CHUNK)
        self.points_per_chunk = max(1, ACTIVATION_BYTES // (self.rows * widest * 4 * 3))
        self._batched = vmap(self._one, in_dims=(0, None, None))

    @property
    def n_rows(self) -> int:
        return len(self.x)

    def _one(self, theta: torch.Tensor, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The mean loss of one flat θ (P,) on rows x: the model's forward with θ's tensors in place."""
        params = {name: part.view(shape) for (name, shape), part in
                  zip(self.layout, torch.split(theta, self.sizes), strict=True)}
        return self.loss(functional_call(self.model, params, (x,)), t)

    def __call__(self, points: torch.Tensor, progress=None) -> torch.Tensor:
        """points (G, P) → L (G,) float64 on the CPU."""
        return self.losses(lambda lo, hi: points[lo:hi], len(points), progress)

    @torch.no_grad()
    def losses(self, make, count: int, progress=None) -> torch.Tensor:
        """L at `count` points built a chunk at a time by make(lo, hi) → (hi − lo, P), so a 101 × 101 grid of a
        big model never exists all at once; progress(done, count) after each chunk. → (count,) float64, CPU."""
        out = []
        for lo in range(0, count, self.points_per_chunk):
            theta = make(lo, min(lo + self.points_per_chunk, count)).to(self.device, torch.float32)
            total = torch.zeros(len(theta), dtype=torch.float64, device=self.device)
            for r in range(0, self.n_rows, self.rows):
                x, t = self.x[r:r + self.rows], self.t[r:r + self.rows]
                total += self._batched(theta, x, t).double() * (len(x) / self.n_rows)
            out.append(total.cpu())
            if progress is not None:
                progress(lo + len(theta), count)
        return torch.cat(out) if out else torch.zeros(0, dtype=torch.float64)
