"""Central finite differences in float64, every perturbation of a layer evaluated in one batched pass.

∂L/∂θ_k ≈ (L(θ + h e_k) − L(θ − h e_k)) / 2h, with an error O(h²) + O(ε·|L|/h) ≈ 1e-10 for h = 1e-6.

Every activation and loss here works row by row (L = Σ_r ℓ_r times 1/B or 1/(B·k)), so a perturbation
that moves one row of z_l or a_l only changes that row's loss: the difference L(θ+h) − L(θ−h) is
ℓ_r(+h) − ℓ_r(−h), and each perturbed copy is one row, evaluated from the perturbed layer on.
All rows perturbed at one layer, +h and −h, go through the rest of the network as one (R, n) block.

- z_l[r, o] ± h: row r of z_l, one element moved.
- W_l[o, i] ± h: z is linear in W, so in row r only z_l[r, o] moves, by ±h·a_{l-1}[r, i]; the
  difference for W_l[o, i] is the sum of those rows' differences (rows where a_{l-1}[r, i] = 0 do
  not move and add exactly 0, so they are not evaluated).
- b_l[o] ± h moves z_l[:, o] in every row by ±h: the same rows as the z perturbations, summed.
- a_l[r, i] ± h: row r of a_l, one element moved, then z_{l+1} = a_l W_{l+1}ᵀ + b_{l+1} recomputed.

Where a perturbation moves some ReLU's input across 0, the loss has a kink inside [θ−h, θ+h] and
the difference quotient is not a derivative: those elements are reported in a `kink` mask.
"""
from __future__ import annotations

import torch

from engine.core.ops import ACTIVATIONS, LOSSES

H = 1e-6
MAX_NUMERICAL_PARAMETERS = 20_000  # above this the trace reports numerical = null with this reason
MAX_WORK = 200_000_000  # perturbations × batch × Σ widths: bounds time and memory (~1 s on 2 cores)
CHUNK_ELEMENTS = 65_536  # elements of one (R, n) block of perturbed rows (512 KB: stays in cache)


class _Tail:
    """The network from layer l on, evaluated for a block of perturbed rows (float64, no autograd).

    Row k of a block is batch row rows[k] with some perturbation; it is compared against that row's
    base z's (for the kink test) and its own target.
    """

    def __init__(self, net: _Net, rows: torch.Tensor):
        self.w, self.b, self.acts, self.loss = net.w, net.b, net.acts, net.loss
        self.net, self.rows = net, rows
        self.y = net.y[rows]

    def loss_from_z(self, l: int, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z: (R, n_l) perturbed rows of z_l (l from 1). Returns (row loss ℓ (R,), crossed a ReLU kink (R,))."""
        crossed = torch.zeros(z.shape[0], dtype=torch.bool)
        for j in range(l, len(self.w) + 1):
            if j > l:
                z = torch.addmm(self.b[j - 1], z, self.w[j - 1].T)
            if ACTIVATIONS[self.acts[j - 1]].kink:
                # a sign change between the base point and θ ± h means the segment touches the kink at 0
                crossed |= (torch.sign(z) != self.net.signs[j - 1][self.rows]).any(dim=1)
            if j == len(self.w) and self.loss.rows_from_logits and self.acts[j - 1] == self.loss.output:
                return self.loss.rows_from_logits(z, self.y), crossed
            z = ACTIVATIONS[self.acts[j - 1]].torch(z)
        return self.loss.rows(z, self.y), crossed

    def loss_from_a(self, l: int, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """a: (R, n_l) perturbed rows of a_l (l from 0). Same returns as loss_from_z."""
        if l == len(self.w):
            return self.loss.rows(a, self.y), torch.zeros(a.shape[0], dtype=torch.bool)
        return self.loss_from_z(l + 1, torch.addmm(self.b[l], a, self.w[l].T))


class _Net:
    """The float64 network and its base point, shared by every block."""

    def __init__(self, weights, biases, activations, loss, zs, y):
        self.w, self.b, self.acts, self.loss, self.y = weights, biases, activations, LOSSES[loss], y
        self.signs = [torch.sign(z) if ACTIVATIONS[act].kink else None
                      for z, act in zip(zs, activations, strict=True)]
        sizes = [weights[0].shape[1]] + [w.shape[0] for w in weights]
        self.widest = [max(sizes[l:]) for l in range(len(sizes))]  # widest row of a block starting at z_l / a_l
        batch, k = zs[-1].shape
        self.scale = self.loss.scale(batch, k)  # L = scale · Σ_r ℓ_r (mean reductions as torch.nn)


def _in_blocks(net: _Net, l: int, n: int, build, from_a: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Evaluate n ± perturbations in chunks of ≤ CHUNK_ELEMENTS: build(part) → (rows, block) holds the +h copies
    of perturbations `part` then the −h ones. Returns ℓ(+) − ℓ(−) and "either side crossed a kink"."""
    diff, kink = torch.empty(n, dtype=torch.float64), torch.empty(n, dtype=torch.bool)
    step = max(1, CHUNK_ELEMENTS // (2 * net.widest[l]))
    for start in range(0, n, step):
        part = slice(start, min(n, start + step))
        m = part.stop - part.start
        r, block = build(part)
        tail = _Tail(net, r)
        value, crossed = tail.loss_from_a(l, block) if from_a else tail.loss_from_z(l, block)
        diff[part] = value[:m] - value[m:]
        kink[part] = crossed[:m] | crossed[m:]
    return diff, kink


def _differences(net: _Net, l: int, base: torch.Tensor, from_a: bool, rows, cols, shift):
    """ℓ(+) − ℓ(−) and "either side crossed a kink" for perturbations k: row rows[k] of base (z_l, or a_l
    when from_a) with column cols[k] moved by ±shift[k]. ± go in one block, chunked to CHUNK_ELEMENTS."""
    diff, kink = torch.zeros(len(rows), dtype=torch.float64), torch.zeros(len(rows), dtype=torch.bool)
    live = slice(None)
    if not from_a and ACTIVATIONS[net.acts[l - 1]].can_die:
        # a ReLU input that stays below 0 at θ ± h gives a = 0 both times: the row is unchanged downstream,
        # so ℓ(+) − ℓ(−) = 0 exactly and no kink is crossed; only the other perturbations are evaluated
        at = base[rows, cols]
        live = torch.nonzero(~((at + shift < 0) & (at - shift < 0))).squeeze(1)
        rows, cols, shift = rows[live], cols[live], shift[live]

    def build(part: slice):
        m = part.stop - part.start
        r, c = rows[part].repeat(2), cols[part].repeat(2)
        block = base[r]  # a copy: (2m, n_l)
        block[torch.arange(2 * m), c] += torch.cat([shift[part], -shift[part]])
        return r, block

    d, k = _in_blocks(net, l, len(rows), build, from_a)
    diff[live], kink[live] = d, k
    return diff, kink


def numerical_gradients(weights, biases, activations, loss, x, y, zs, as_) -> list[dict]:
    """Per layer l = 1…L: {"weight", "bias", "z", "a", "input"} finite-difference gradients and kink masks.

    Every argument is float64: weights[l-1] (n_l, n_{l-1}), zs[l-1] = z_l (B, n_l), as_[l] = a_l (as_[0] = x).
    """
    with torch.no_grad():
        net = _Net(weights, biases, activations, loss, zs, y)
        a_grads = [_grad_a(net, l, as_[l], zs[l] if l < len(weights) else None) for l in range(len(weights) + 1)]
        layers = []
        for l in range(1, len(weights) + 1):
            weight, bias, z = _grad_layer(net, l, zs[l - 1], as_[l - 1])
            layers.append({"weight": weight, "bias": bias, "z": z, "a": a_grads[l], "input": a_grads[l - 1]})
        return layers


def _every_element(rows: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(row, column) of every element of a (rows, n) tensor, row-major."""
    return torch.arange(rows).repeat_interleave(n), torch.arange(n).repeat(rows)


def _grad_a(net: _Net, l: int, a: torch.Tensor, z_next: torch.Tensor | None):
    """∂L/∂a_l (B, n_l) and its kink mask. z_next = z_{l+1} (None for the output layer)."""
    rows, n = a.shape
    r, c = _every_element(rows, n)
    if z_next is not None:  # a_l[r, i] ± h moves row r of z_{l+1} by ±h·W_{l+1}[:, i]
        diff, kink = _dense_differences(net, l + 1, z_next, r, H * net.w[l].T[c])
        return (diff * net.scale / (2 * H)).view(rows, n), kink.view(rows, n)
    h, unreliable = _output_steps(net, a.flatten())
    diff, kink = _differences(net, l, a, True, r, c, h)
    return (diff * net.scale / (2 * h)).view(rows, n), (kink | unreliable).view(rows, n)


def _output_steps(net: _Net, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Steps h for ∂L/∂a_L, and where the difference cannot be trusted.

    bce is defined on a ∈ (0, 1) only: the step must stay inside, and it must shrink with the distance
    d = min(a, 1 − a) to the edge, since the error of the quotient grows like (h/d)². Within 1e-4 of the
    edge the float64 quotient is no longer reliable to 1e-6: those elements are reported like kinks.
    """
    h = torch.full_like(a, H)
    if not net.loss.unit_interval:
        return h, torch.zeros_like(a, dtype=torch.bool)
    d = torch.minimum(a, 1 - a)
    return torch.minimum(h, 1e-3 * d).clamp(min=1e-300), d < 1e-4


def _dense_differences(net: _Net, l: int, z: torch.Tensor, rows: torch.Tensor, vectors: torch.Tensor):
    """ℓ(+) − ℓ(−) and kinks for perturbations k: row rows[k] of z_l moved by ±vectors[k] (K, n_l)."""

    def build(part: slice):
        r = rows[part].repeat(2)
        return r, z[r] + torch.cat([vectors[part], -vectors[part]])  # (2m, n_l)

    diff, kink = _in_blocks(net, l, len(rows), build, False)
    return diff, kink


def _grad_layer(net: _Net, l: int, z: torch.Tensor, a_prev: torch.Tensor):
    """(∂L/∂W_l, kink), (∂L/∂b_l, kink), (∂L/∂z_l, kink): every perturbation of z_l's rows in one pass."""
    rows, out_n = z.shape
    in_n = a_prev.shape[1]
    zr, zc = _every_element(rows, out_n)  # z_l[r, o] ± h
    moving = torch.nonzero(a_prev)  # (K, 2): the (r, i) where W_l[·, i] moves row r
    o = torch.arange(out_n).repeat_interleave(len(moving))  # W_l[o, i] ± h: z_l[r, o] ± h·a_{l-1}[r, i]
    wr, wi = moving[:, 0].repeat(out_n), moving[:, 1].repeat(out_n)
    shift = torch.cat([torch.full((rows * out_n,), H, dtype=torch.float64), H * a_prev[wr, wi]])
    diff, kink = _differences(net, l, z, False, torch.cat([zr, wr]), torch.cat([zc, o]), shift)
    n_z = rows * out_n
    d_z, k_z = diff[:n_z].view(rows, out_n), kink[:n_z].view(rows, out_n)
    d_w = torch.zeros(out_n * in_n, dtype=torch.float64).index_add_(0, o * in_n + wi, diff[n_z:])
    k_w = torch.zeros(out_n * in_n, dtype=torch.long).index_add_(0, o * in_n + wi, kink[n_z:].long()) > 0
    c = net.scale / (2 * H)
    return ((d_w * c).view(out_n, in_n), k_w.view(out_n, in_n)), (d_z.sum(dim=0) * c, k_z.any(dim=0)), \
        (d_z * c, k_z)


def numerical_work(sizes: list[int], batch: int) -> int:
    """An upper bound on the elements the perturbed rows occupy on their way to the loss (± counted).

    Layer l: B·n_l z-perturbations and at most B·n_{l-1}·n_l weight perturbations, each a row that runs
    through widths n_l … n_L; a_l perturbations (l < L) enter at z_{l+1}; a_L ones at the loss.
    """
    L = len(sizes) - 1
    tail = [sum(sizes[l:]) for l in range(L + 1)]  # Σ_{j ≥ l} n_j
    work = 2 * batch * sizes[L] * sizes[L]
    for l in range(1, L + 1):
        work += 2 * batch * (sizes[l] + sizes[l - 1] * sizes[l]) * tail[l]
        work += 2 * batch * sizes[l - 1] * tail[l]
    return work


def numerical_skip_reason(sizes: list[int], batch: int) -> str | None:
    """Why finite differences are skipped for this net, or None when they run."""
    n_params = sum(sizes[i] * sizes[i + 1] + sizes[i + 1] for i in range(len(sizes) - 1))
    if n_params > MAX_NUMERICAL_PARAMETERS:
        return (f"finite differences skipped: {n_params:,} parameters is over the "
                f"{MAX_NUMERICAL_PARAMETERS:,} limit (2 forward passes per parameter)")
    work = numerical_work(sizes, batch)
    if work > MAX_WORK:
        return (f"finite differences skipped: about {work:,} numbers to push through the network "
                f"(limit {MAX_WORK:,}); use a smaller batch or narrower layers")
    return None
