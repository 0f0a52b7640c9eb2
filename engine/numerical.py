"""Central finite differences in float64, every perturbation of a tensor evaluated in one batched pass.

∂L/∂θ_k ≈ (L(θ + h e_k) − L(θ − h e_k)) / 2h, with an error O(h²) + O(ε·|L|/h) ≈ 1e-10 for h = 1e-6.

The P perturbed copies of a network share everything upstream of the perturbed tensor, so each
copy is evaluated from that layer on, as a leading batch dimension: tensors of shape (P, B, n).
Perturbing W_l[o, i] by h changes exactly one column of z_l: z_l[:, o] += h·a_{l-1}[:, i]
(z is linear in W), which is how the perturbed forward starts without re-multiplying W.

Where a perturbation moves some ReLU's input across 0, the loss has a kink inside [θ−h, θ+h] and
the difference quotient is not a derivative: those elements are reported in a `kink` mask.
"""
from __future__ import annotations

import torch

H = 1e-6
MAX_NUMERICAL_PARAMETERS = 20_000  # above this the trace reports numerical = null with this reason
MAX_WORK = 200_000_000  # perturbations × batch × Σ widths: bounds time and memory (~1 s on 2 cores)
CHUNK_ELEMENTS = 4_000_000  # elements of one (P, B, n) block


class _Tail:
    """The network from layer l on, evaluated for a batch of perturbed states (float64, no autograd)."""

    def __init__(self, weights, biases, activations, loss, zs, y):
        self.w, self.b, self.acts, self.loss = weights, biases, activations, loss
        self.zs = zs  # base z_1 … z_L (index 0 is z_1)
        self.y = y

    def loss_from_z(self, l: int, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z: (P, B, n_l) perturbed z_l (l from 1). Returns (loss (P,), crossed a ReLU kink (P,) bool)."""
        crossed = torch.zeros(z.shape[0], dtype=torch.bool)
        for j in range(l, len(self.w) + 1):
            if j > l:
                z = z @ self.w[j - 1].T + self.b[j - 1]
            crossed |= self._crossed(j, z)
            z = _activate(self.acts[j - 1], z)
        return _batched_loss(self.loss, z, self.y), crossed

    def loss_from_a(self, l: int, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """a: (P, B, n_l) perturbed a_l (l from 0). Same returns as loss_from_z."""
        if l == len(self.w):
            return _batched_loss(self.loss, a, self.y), torch.zeros(a.shape[0], dtype=torch.bool)
        return self.loss_from_z(l + 1, a @ self.w[l].T + self.b[l])

    def _crossed(self, j: int, z: torch.Tensor) -> torch.Tensor:
        if self.acts[j - 1] not in ("relu", "leaky_relu"):
            return torch.zeros(z.shape[0], dtype=torch.bool)
        base = self.zs[j - 1]
        # a sign change between the base point and θ ± h means the segment touches the kink at 0
        return (torch.sign(z) != torch.sign(base)).flatten(1).any(dim=1)


def _activate(name: str, z: torch.Tensor) -> torch.Tensor:
    if name == "relu":
        return torch.relu(z)
    if name == "leaky_relu":
        return torch.nn.functional.leaky_relu(z, 0.01)
    if name == "sigmoid":
        return torch.sigmoid(z)
    if name == "tanh":
        return torch.tanh(z)
    if name == "softmax":
        return torch.softmax(z, dim=-1)
    return z


def _batched_loss(name: str, a: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Loss of each of P copies: a (P, B, k) → (P,), mean reductions as torch.nn."""
    if name == "mse":
        return ((a - y) ** 2).mean(dim=(1, 2))
    if name == "cross_entropy":
        logp = torch.log_softmax(a, dim=-1)
        return -logp.gather(2, y.view(1, -1, 1).expand(a.shape[0], -1, 1)).mean(dim=(1, 2))
    if name == "bce":
        la, l1 = torch.clamp(torch.log(a), min=-100), torch.clamp(torch.log(1 - a), min=-100)
        return -(y * la + (1 - y) * l1).mean(dim=(1, 2))
    return a.sum(dim=(1, 2))


def _difference(evaluate, n: int, per_copy: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Central difference for n perturbations, chunked. evaluate(idx, ±h) → (loss, crossed)."""
    grads, kinks = torch.empty(n, dtype=torch.float64), torch.zeros(n, dtype=torch.bool)
    step = max(1, CHUNK_ELEMENTS // max(per_copy, 1))
    for start in range(0, n, step):
        idx = torch.arange(start, min(n, start + step))
        plus, k_plus = evaluate(idx, H)
        minus, k_minus = evaluate(idx, -H)
        grads[idx] = (plus - minus) / (2 * H)
        kinks[idx] = k_plus | k_minus
    return grads, kinks


def numerical_gradients(weights, biases, activations, loss, x, y, zs, as_) -> list[dict]:
    """Per layer l = 1…L: {"weight", "bias", "z", "a", "input"} finite-difference gradients and kink masks.

    Every argument is float64: weights[l-1] (n_l, n_{l-1}), zs[l-1] = z_l (B, n_l), as_[l] = a_l (as_[0] = x).
    """
    tail = _Tail(weights, biases, activations, loss, zs, y)
    per_copy = x.shape[0] * max(w.shape[0] for w in weights)
    a_grads = [_grad_a(tail, l, as_[l], per_copy) for l in range(len(weights) + 1)]
    layers = []
    for l in range(1, len(weights) + 1):
        layers.append({
            "weight": _grad_weight(tail, l, zs[l - 1], as_[l - 1], per_copy),
            "bias": _grad_bias(tail, l, zs[l - 1], per_copy),
            "z": _grad_z(tail, l, zs[l - 1], per_copy),
            "a": a_grads[l],
            "input": a_grads[l - 1],
        })
    return layers


def _grad_weight(tail, l, z, a_prev, per_copy):
    out_n, in_n = tail.w[l - 1].shape

    def evaluate(idx, h):
        o, i = idx // in_n, idx % in_n
        zp = z.expand(len(idx), -1, -1).clone()
        zp[torch.arange(len(idx)), :, o] += h * a_prev[:, i].T  # column o moves by h·a_{l-1}[:, i]
        return tail.loss_from_z(l, zp)

    g, k = _difference(evaluate, out_n * in_n, per_copy)
    return g.view(out_n, in_n), k.view(out_n, in_n)


def _grad_bias(tail, l, z, per_copy):
    def evaluate(idx, h):
        zp = z.expand(len(idx), -1, -1).clone()
        zp[torch.arange(len(idx)), :, idx] += h  # b_l[o] enters every row's z_l[:, o]
        return tail.loss_from_z(l, zp)

    return _difference(evaluate, z.shape[1], per_copy)


def _grad_z(tail, l, z, per_copy):
    rows, n = z.shape

    def evaluate(idx, h):
        zp = z.expand(len(idx), -1, -1).clone()
        zp[torch.arange(len(idx)), idx // n, idx % n] += h
        return tail.loss_from_z(l, zp)

    g, k = _difference(evaluate, rows * n, per_copy)
    return g.view(rows, n), k.view(rows, n)


def _grad_a(tail, l, a, per_copy):
    rows, n = a.shape

    def evaluate(idx, h):
        ap = a.expand(len(idx), -1, -1).clone()
        ap[torch.arange(len(idx)), idx // n, idx % n] += h
        return tail.loss_from_a(l, ap)

    g, k = _difference(evaluate, rows * n, per_copy)
    return g.view(rows, n), k.view(rows, n)


def numerical_skip_reason(sizes: list[int], batch: int) -> str | None:
    """Why finite differences are skipped for this net, or None when they run."""
    n_params = sum(sizes[i] * sizes[i + 1] + sizes[i + 1] for i in range(len(sizes) - 1))
    if n_params > MAX_NUMERICAL_PARAMETERS:
        return (f"finite differences skipped: {n_params:,} parameters is over the "
                f"{MAX_NUMERICAL_PARAMETERS:,} limit (2 forward passes per parameter)")
    perturbations = n_params + batch * sum(sizes)
    work = perturbations * batch * sum(sizes[1:])
    if work > MAX_WORK:
        return (f"finite differences skipped: {perturbations:,} perturbations × batch {batch} "
                "is too much work; use a smaller batch")
    return None
