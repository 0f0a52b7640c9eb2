"""Central finite differences in float64 over the layer protocol, every perturbation of a layer evaluated
in one batched pass. One function (numerical_gradients) serves every layer kind.

∂L/∂θ_k ≈ (L(θ + h e_k) − L(θ − h e_k)) / 2h, with an error O(h²) + O(ε·|L|/h) ≈ 1e-10 for h = 1e-6.

Every activation and loss works row by row (L = scale · Σ_r ℓ_r), and so does every row-wise layer kind
(Layer.rowwise), so a perturbation that moves one row of z_l or a_l only changes that row's loss: the
difference L(θ+h) − L(θ−h) is ℓ_r(+h) − ℓ_r(−h), and each perturbed copy is one row, evaluated from the
perturbed layer on. All rows perturbed at one layer, +h and −h, go through the rest of the network
(each layer's torch_forward, then its activation's torch twin) as one (R, n) block.

- z_l[r, o] ± h: row r of z_l, one element moved.
- a parameter of layer l: the kind's param_probes say how each element moves the rows of z_l (a linear
  layer: W[o, i] ± h moves z_l[r, o] by ±h·a_{l-1}[r, i]; the default re-runs torch_forward per element).
- a_l[r, i] ± h: row r of a_l, one element moved, then layer l+1 recomputed from it.

Where a perturbation moves the input of an activation with a kink (ReLU, leaky ReLU) across 0, the
difference quotient is not a derivative: those elements are reported in a `kink` mask.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch

from engine.core.layers import Layer, build_layers, n_parameters
from engine.core.layers.base import ShiftProbes
from engine.core.ops import LOSSES

H = 1e-6
# The bounds below let the MNIST tutorials' network (784-128-64-10, 109 386 parameters) be checked at batch ≤ 9; at 8:
# 1.77 M perturbed rows, 1.37 G of numerical_work, ~1.3 s on one loaded core (bench row 5b). Were 20 000 / 200 M /
# 250 000 before each perturbation of z_l went on through layer l + 1 as one multiply-add row (input_map).
MAX_NUMERICAL_PARAMETERS = 120_000  # above this the trace reports numerical = null with this reason
MAX_WORK = 1_600_000_000  # numerical_work: multiply-adds and elements of every perturbed row (~2 s on one core)
NOISE_ULPS = 64  # rounding of one row loss ℓ_r through the tail: a few ulps per op, generously counted
MAX_PERTURBATIONS = 2_000_000  # perturbed rows (± counted): each costs indexing whatever its width, and ~40 bytes
# of probe indices while its layer is evaluated (≤ 80 MB); a 4096 → 4 → 4 net at batch 487 is 20 M rows, 40–90 s
CHUNK_ELEMENTS = 262_144  # elements of one (R, n) block of perturbed rows (2 MB; 4× the old 512 KB measured
# 18 % faster on the MNIST net: fewer blocks, each ~20 small ops)


class Numerical(NamedTuple):
    """One gradient by finite differences, and what limits it."""

    grad: torch.Tensor
    left_out: torch.Tensor  # bool: not a derivative (a kink inside [θ − h, θ + h]) or unreliable
    unreliable: torch.Tensor  # bool, part of left_out: an output within 1e-4 of the edge of the loss's domain
    noise: float  # the quotient's rounding error bound: NOISE_ULPS·ε·(scale·|ℓ| summed over the rows moved)/h


class _Tail:
    """The network from layer l on, evaluated for a block of perturbed rows (float64, no autograd).

    Row k of a block is batch row rows[k] with some perturbation; it is compared against that row's
    base z's (for the kink test) and its own target.
    """

    def __init__(self, net: _Net, rows: torch.Tensor):
        self.net, self.rows = net, rows
        self.y = net.y[rows]

    def loss_from_z(self, l: int, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z: (R, n_l) perturbed rows of z_l (l from 1). Returns (row loss ℓ (R,), crossed a kink (R,))."""
        net = self.net
        crossed = torch.zeros(z.shape[0], dtype=torch.bool)
        for j in range(l, len(net.layers) + 1):
            layer = net.layers[j - 1]
            if j > l:
                z = layer.torch_forward(net.params[j - 1], z)
            phi = layer.activation
            if phi.kink:  # a sign change between the base point and θ ± h: the segment touches the kink at 0
                crossed |= (torch.sign(z) != net.signs[j - 1][self.rows]).any(dim=1)
            if j == len(net.layers) and net.loss.rows_from_logits and phi.name == net.loss.output:
                return net.loss.rows_from_logits(z, self.y), crossed
            z = phi.torch(z)
        return net.loss.rows(z, self.y), crossed

    def loss_from_a(self, l: int, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """a: (R, n_l) perturbed rows of a_l (l from 0). Same returns as loss_from_z."""
        net = self.net
        if l == len(net.layers):
            return net.loss.rows(a, self.y), torch.zeros(a.shape[0], dtype=torch.bool)
        return self.loss_from_z(l + 1, net.layers[l].torch_forward(net.params[l], a))


class _Net:
    """The float64 network and its base point, shared by every block."""

    def __init__(self, layers: list[Layer], params: list[dict], loss: str, zs, y):
        if not all(layer.rowwise for layer in layers):
            raise NotImplementedError("finite differences over whole batches (BatchNorm) are not written yet")
        self.layers, self.params, self.loss, self.y, self.zs = layers, params, LOSSES[loss], y, zs
        self.signs = [torch.sign(z) if layer.activation.kink else None for z, layer in zip(zs, layers, strict=True)]
        sizes = [layers[0].fan_in] + [layer.units for layer in layers]
        self.widest = [max(sizes[l:]) for l in range(len(sizes))]  # widest row of a block starting at z_l / a_l
        batch, k = zs[-1].shape
        self.scale = self.loss.scale(batch, k)  # L = scale · Σ_r ℓ_r (mean reductions as torch.nn)
        self.row_noise = torch.zeros(batch, dtype=torch.float64)  # rounding of scale·ℓ_r, set by numerical_gradients
        self.progress, self.done = None, 0  # progress(fraction) after each block, if given
        self.total = numerical_perturbations(sizes, batch) // 2  # an upper bound: dead-ReLU skips are not counted

    def tick(self, evaluated: int) -> None:
        self.done += evaluated
        if self.progress is not None:
            self.progress(min(self.done / max(self.total, 1), 1.0))

    def noise(self, h: float, rows: str) -> float:
        """Rounding error bound of (L(θ+h) − L(θ−h))/2h when one row moves ("one") or every row does ("all")."""
        total = self.row_noise.max() if rows == "one" else self.row_noise.sum()
        return float(total) / h


def _in_blocks(net: _Net, l: int, n: int, build, from_a: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Evaluate n ± perturbations in chunks of ≤ CHUNK_ELEMENTS: build(part) → (rows, block, crossed or None)
    holds the +h copies of perturbations `part` then the −h ones, as rows of a_l (from_a) or z_l; crossed: a kink
    crossed before the block. Returns ℓ(+) − ℓ(−) and "either side crossed a kink"."""
    diff, kink = torch.empty(n, dtype=torch.float64), torch.empty(n, dtype=torch.bool)
    step = max(1, CHUNK_ELEMENTS // (2 * net.widest[l]))
    for start in range(0, n, step):
        part = slice(start, min(n, start + step))
        m = part.stop - part.start
        r, block, before = build(part)
        tail = _Tail(net, r)
        value, crossed = tail.loss_from_a(l, block) if from_a else tail.loss_from_z(l, block)
        if before is not None:
            crossed |= before
        diff[part] = value[:m] - value[m:]
        kink[part] = crossed[:m] | crossed[m:]
        net.tick(m)
    return diff, kink


def _differences(net: _Net, l: int, base: torch.Tensor, from_a: bool, rows, cols, shift):
    """ℓ(+) − ℓ(−) and "either side crossed a kink" for perturbations k: row rows[k] of base (z_l, or a_l
    when from_a) with column cols[k] moved by ±shift[k]. ± go in one block, chunked to CHUNK_ELEMENTS."""
    diff, kink = torch.zeros(len(rows), dtype=torch.float64), torch.zeros(len(rows), dtype=torch.bool)
    live = slice(None)
    if not from_a and net.layers[l - 1].activation.can_die:
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
        return r, block, None

    mapped = _through_next_layer(net, l, base, from_a, rows, cols, shift)
    d, k = _in_blocks(net, l, len(rows), build, from_a) if mapped is None else mapped
    diff[live], kink[live] = d, k
    return diff, kink


def _through_next_layer(net: _Net, l: int, base: torch.Tensor, from_a: bool, rows, cols, shift):
    """The same differences when one element of a_l moves and layer l + 1 is affine in its input (its
    input_map M, a linear layer's W): z_{l+1} row r then moves by Δ·M[:, c], one multiply-add of width n_{l+1}
    instead of a forward pass through layer l + 1. Δ = ±shift for a move of a_l; for a move of z_l by ±s
    (elementwise φ_l) Δ = φ_l(z ± s) − φ_l(z), and a kink of φ_l is crossed where the sign of z ± s differs
    from z's. None where this does not apply (the last layer, φ_l not elementwise, a kind that is not affine)."""
    if l == len(net.layers) or (not from_a and not net.layers[l - 1].activation.elementwise):
        return None
    m_next = net.layers[l].input_map(net.params[l])
    if m_next is None:
        return None
    columns, z_next = m_next.T.contiguous(), net.zs[l]  # row i: how z_{l+1} moves per unit of a_l[:, i]
    phi = None if from_a else net.layers[l - 1].activation

    def build(part: slice):
        r, c = rows[part].repeat(2), cols[part].repeat(2)
        step = torch.cat([shift[part], -shift[part]])
        crossed = None
        if phi is None:
            delta = step
        else:
            at = base[r, c]
            delta = phi.torch(at + step) - phi.torch(at)
            crossed = (torch.sign(at + step) != torch.sign(at)) if phi.kink else None
        return r, torch.addcmul(z_next[r], delta[:, None], columns[c]), crossed  # (2m, n_{l+1})

    return _in_blocks(net, l + 1, len(rows), build, False)


def numerical_gradients(layers: list[Layer], params: list[dict], loss: str, x, y, zs, as_,
                        progress: Callable[[float], None] | None = None) -> list[dict]:
    """Per layer l = 1…L: {each parameter name, "z", "a", "input"} → Numerical (gradient, left-out mask, …).

    Every tensor is float64: params[l-1] by torch's names, zs[l-1] = z_l (B, n_l), as_[l] = a_l (as_[0] = x).
    progress: called with the fraction done (0–1) as blocks finish, and 1.0 at the end.
    """
    with torch.no_grad():
        net = _Net(layers, params, loss, zs, y)
        net.progress = progress
        base = (net.loss.rows_from_logits(zs[-1], y) if net.loss.rows_from_logits
                and layers[-1].activation.name == net.loss.output else net.loss.rows(as_[-1], y))
        net.row_noise = NOISE_ULPS * torch.finfo(torch.float64).eps * net.scale * base.abs()
        a_grads = [_grad_a(net, l, as_[l]) for l in range(len(layers) + 1)]
        out = []
        for l in range(1, len(layers) + 1):
            grads = _grad_params(net, l, zs[l - 1], as_[l - 1])
            grads.update(z=_grad_z(net, l, zs[l - 1]), a=a_grads[l], input=a_grads[l - 1])
            out.append(grads)
        if progress is not None:
            progress(1.0)
        return out


def _every_element(rows: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(row, column) of every element of a (rows, n) tensor, row-major."""
    return torch.arange(rows).repeat_interleave(n), torch.arange(n).repeat(rows)


def _grad_a(net: _Net, l: int, a: torch.Tensor) -> Numerical:
    """∂L/∂a_l (B, n_l): a_l[r, i] ± h, then the network from layer l + 1 on."""
    rows, n = a.shape
    r, c = _every_element(rows, n)
    if l < len(net.layers):
        h, unreliable = torch.full((rows * n,), H, dtype=torch.float64), torch.zeros(rows * n, dtype=torch.bool)
    else:
        h, unreliable = _output_steps(net, a.flatten())
    diff, kink = _differences(net, l, a, True, r, c, h)
    unreliable = unreliable.view(rows, n)
    return Numerical((diff * net.scale / (2 * h)).view(rows, n), kink.view(rows, n) | unreliable, unreliable,
                     net.noise(float(h.min()) if h.numel() else H, "one"))


def _grad_z(net: _Net, l: int, z: torch.Tensor) -> Numerical:
    """δ_l = ∂L/∂z_l (B, n_l): z_l[r, o] ± h."""
    rows, n = z.shape
    r, c = _every_element(rows, n)
    diff, kink = _differences(net, l, z, False, r, c, torch.full((rows * n,), H, dtype=torch.float64))
    kink = kink.view(rows, n)
    return Numerical((diff * net.scale / (2 * H)).view(rows, n), kink, torch.zeros_like(kink), net.noise(H, "one"))


def _grad_params(net: _Net, l: int, z: torch.Tensor, a_prev: torch.Tensor) -> dict[str, Numerical]:
    """{name: Numerical} for layer l's parameters, from the kind's probes of z_l."""
    layer, params = net.layers[l - 1], net.params[l - 1]
    out = {}
    for name, probes in layer.param_probes(params, a_prev, z, H).items():
        if isinstance(probes, ShiftProbes):
            diff, kink = _differences(net, l, z, False, probes.rows, probes.cols, probes.shift)
        else:
            diff, kink = _dense_differences(net, l, z, probes.rows, probes.vectors)
        n = params[name].numel()
        d = torch.zeros(n, dtype=torch.float64).index_add_(0, probes.target, diff)
        k = (torch.zeros(n, dtype=torch.long).index_add_(0, probes.target, kink.long()) > 0).view_as(params[name])
        out[name] = Numerical((d * net.scale / (2 * H)).view_as(params[name]), k, torch.zeros_like(k),
                              net.noise(H, "all"))
    return out


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
        return r, z[r] + torch.cat([vectors[part], -vectors[part]]), None  # (2m, n_l)

    diff, kink = _in_blocks(net, l, len(rows), build, False)
    return diff, kink


def numerical_work(sizes: list[int], batch: int, types: list[str] | None = None) -> int:
    """An upper bound on the multiply-adds and elements of the perturbed rows on their way to the loss (± counted).

    A row that starts at z_j costs tail[j] = Σ_{k>j} n_{k-1}·n_k (the later products) + Σ_{k≥j} n_k. A move of
    one element of a_l (x, a hidden a_l, or z_l through its elementwise φ) reaches z_{l+1} for n_{l+1}
    multiply-adds when layer l + 1 is affine in its input (Layer.affine_input), else for its forward, n_l·n_{l+1}.
    Per layer l: B·n_l moves of z_l; at most B per parameter element (single z_l elements for a kind with
    shift_probes, else whole rows of z_l); B·n_{l-1} moves of a_{l-1}; and B·n_L moves of a_L at the loss.
    """
    L = len(sizes) - 1
    layers = build_layers(sizes, ["identity"] * L, types)
    tail = [sum(sizes[k - 1] * sizes[k] for k in range(j + 1, L + 1)) + sum(sizes[j:]) for j in range(L + 1)]

    def from_a(l: int) -> int:  # one element of a_l moved (l < L): into z_{l+1}, then on
        step = sizes[l + 1] if layers[l].affine_input else sizes[l] * sizes[l + 1]
        return step + tail[l + 1]

    work = batch * sizes[L] * sizes[L]  # a_L: the loss of the moved row
    for l, layer in enumerate(layers, start=1):
        element = tail[L] if l == L else from_a(l)  # one element of z_l moved
        row = tail[l] + (0 if l == L else sizes[l] * sizes[l + 1])  # a whole row of z_l moved
        work += batch * sizes[l] * element + batch * layer.n_parameters() * (element if layer.shift_probes else row)
        work += batch * sizes[l - 1] * from_a(l - 1)
    return 2 * work


def numerical_perturbations(sizes: list[int], batch: int) -> int:
    """Perturbed rows, ± counted: per layer l, B·n_l of z_l, B·n_{l-1}·n_l of W_l, B·n_{l-1} of a_{l-1};
    and B·n_L of a_L."""
    L = len(sizes) - 1
    per_row = sum(sizes[l] + sizes[l - 1] * sizes[l] + sizes[l - 1] for l in range(1, L + 1)) + sizes[L]
    return 2 * batch * per_row


def numerical_skip_reason(sizes: list[int], batch: int, types: list[str] | None = None) -> str | None:
    """Why finite differences are skipped for this net, or None when they run."""
    n_params = n_parameters(sizes, types)
    if n_params > MAX_NUMERICAL_PARAMETERS:
        return (f"finite differences skipped: {n_params:,} parameters is over the "
                f"{MAX_NUMERICAL_PARAMETERS:,} limit (≥ 2 perturbed rows per parameter and row of the batch)")
    rows = numerical_perturbations(sizes, batch)
    if rows > MAX_PERTURBATIONS:
        most = MAX_PERTURBATIONS // (rows // batch)
        return (f"finite differences skipped: {rows:,} perturbed copies of a row (limit {MAX_PERTURBATIONS:,}); "
                + (f"use batch ≤ {most:,}" if most >= 1 else "use fewer or narrower layers"))
    work = numerical_work(sizes, batch, types)
    if work > MAX_WORK:
        return (f"finite differences skipped: about {work:,} numbers to push through the network "
                f"(limit {MAX_WORK:,}); use a smaller batch or narrower layers")
    return None
