"""Finite differences over whole batches, for nets the row-block path (engine.core.numerical) cannot take:
BatchNorm couples the rows, a dropout mask differs per row, a residual block's inner layers are traced too.

Every element e of every tensor (each parameter, and each layer's input, z and a — inner layers included)
is moved by ±h and the whole network re-run by torch (Layer.torch_run, the moved tensor injected through
Context.perturb): ∂L/∂e ≈ (L(+h) − L(−h)) / 2h, error O(h²) + O(ε|L|/h) ≈ 1e-10 in float64.
Where a perturbed run moves a ReLU input across 0 the quotient is not a derivative: reported in `kink`.
"""
from __future__ import annotations

import torch

from engine.core.layers import Context, Layer, flat
from engine.core.layers.residual import split
from engine.core.numerical import NOISE_ULPS, Numerical
from engine.core.ops import LOSSES

H = 1e-6
MAX_RUNS = 40_000  # forward passes (2 per element); above this the trace skips finite differences


def owned(layer: Layer, params: dict, prefix: str = "") -> list[tuple[Layer, str, dict]]:
    """(layer, its prefix in the top-level dict, its own parameters) for a layer and its inner layers."""
    if not layer.children:
        return [(layer, prefix, params)]
    out = [(layer, prefix, {})]
    for k, child in enumerate(layer.children):
        out += owned(child, split(params, k), f"{prefix}{k}.")
    return out


def n_runs(layers: list[Layer], batch: int) -> int:
    """Forward passes the whole-batch differences need: two per parameter element and per element of each
    layer's input, z and a."""
    elements = sum(layer.n_parameters() for layer in layers)
    elements += sum(batch * (layer.fan_in + 2 * layer.units) for layer in flat(layers))
    return 2 * elements


class _Runner:
    def __init__(self, layers, params, loss, x, y, state):
        self.layers, self.params, self.loss, self.x, self.y, self.state = layers, params, LOSSES[loss], x, y, state
        self.base = {}
        self.base_loss = self.run(params, None, self.base)
        self.signs = {key: torch.sign(t) for key, t in self.base.items()
                      if key[1] == "z" and self._layer(key[0]).activation.kink}

    def _layer(self, index: int) -> Layer:
        return flat(self.layers)[index - 1]

    def run(self, params, perturb, record) -> float:
        ctx = Context(training=True, state=self.state, record=record, perturb=perturb)
        h = self.x
        for layer, p in zip(self.layers, params, strict=True):
            _, h = layer.torch_run(p, h, ctx)
        return self.loss.torch(h, self.y).item()

    def quotient(self, params_pm, perturb_pm, step: float) -> tuple[float, bool]:
        values, crossed = [], False
        for params, perturb in zip(params_pm, perturb_pm, strict=True):
            rec = {}
            values.append(self.run(params, perturb, rec))
            crossed |= any(bool((torch.sign(rec[key]) != s).any()) for key, s in self.signs.items())
        return (values[0] - values[1]) / (2 * step), crossed


def whole_batch_gradients(layers: list[Layer], params: list[dict], loss: str, x, y, state: dict) -> dict:
    """{layer index: {each own parameter, "z", "a", "input": Numerical}} for every layer in run order
    (float64 inputs). The quotient's rounding error is bounded by NOISE_ULPS·ε·|L|/h for the whole batch."""
    with torch.no_grad():
        r = _Runner(layers, params, loss, x, y, state)
        noise = NOISE_ULPS * torch.finfo(torch.float64).eps * abs(r.base_loss)
        out = {}
        for t, top in enumerate(layers):
            for layer, prefix, own in owned(top, params[t]):
                grads = {name: _numerical(*_param_grad(r, t, prefix + name, value), noise / H)
                         for name, value in own.items()}
                for name in ("z", "a", "input"):
                    grad, kink, unreliable, step = _tensor_grad(r, layer.index, name, r.base[(layer.index, name)],
                                                                last=layer is flat(layers)[-1] and name == "a")
                    grads[name] = Numerical(grad, kink, unreliable, noise / step)
                out[layer.index] = grads
        return out


def _param_grad(r: _Runner, t: int, name: str, value: torch.Tensor):
    grad, kink = torch.zeros(value.numel(), dtype=torch.float64), torch.zeros(value.numel(), dtype=torch.bool)
    for e in range(value.numel()):
        moved = []
        for sign in (1, -1):
            p = dict(r.params[t])
            p[name] = value.clone()
            p[name].view(-1)[e] += sign * H
            moved.append([*r.params[:t], p, *r.params[t + 1:]])
        grad[e], kink[e] = r.quotient(moved, [None, None], H)
    return grad.view_as(value), kink.view_as(value)


def _numerical(grad: torch.Tensor, kink: torch.Tensor, noise: float) -> Numerical:
    return Numerical(grad, kink, torch.zeros_like(kink), noise)


def _tensor_grad(r: _Runner, index: int, name: str, base: torch.Tensor, last: bool):
    n = base.numel()
    grad, kink = torch.zeros(n, dtype=torch.float64), torch.zeros(n, dtype=torch.bool)
    edge, smallest = torch.zeros(n, dtype=torch.bool), H
    for e in range(n):
        step, unreliable = H, False
        if last and r.loss.unit_interval:  # bce: stay inside (0, 1), shrink the step near the edge
            d = min(base.view(-1)[e].item(), 1 - base.view(-1)[e].item())
            step, unreliable = max(min(H, 1e-3 * d), 1e-300), d < 1e-4
        moves = []
        for sign in (1, -1):
            delta = torch.zeros_like(base)
            delta.view(-1)[e] = sign * step
            moves.append(((index, name), delta))
        grad[e], crossed = r.quotient([r.params, r.params], moves, step)
        kink[e], edge[e], smallest = crossed or unreliable, unreliable, min(smallest, step)
    return grad.view_as(base), kink.view_as(base), edge.view_as(base), smallest
