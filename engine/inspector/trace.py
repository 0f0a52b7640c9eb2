"""trace(spec): one forward and backward pass, every gradient three ways — manual, autograd, numerical.

The comparison per tensor: max |manual − autograd|, that divided by max |autograd| (normwise relative
error, which stays meaningful where single entries are ~0), and the same for numerical − autograd on
the elements where finite differences are defined (no ReLU kink inside [θ − h, θ + h]).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from engine.core import chain_rule
from engine.core.layers import Context, Layer, flat
from engine.core.layers.residual import split
from engine.core.numerical import numerical_gradients, numerical_skip_reason
from engine.core.numerical_batch import MAX_RUNS, n_runs, whole_batch_gradients
from engine.core.ops import LOSSES
from engine.inspector.materialize import Materialized, materialize
from engine.inspector.spec import NetworkSpec

GRAD_NAMES = ("weight", "bias", "z", "a", "input")  # ∂L/∂W_l, ∂L/∂b_l, δ_l, ∂L/∂a_l, ∂L/∂a_{l-1}

# manual vs autograd: |Δ| ≤ tol · max(1, max|g|). Both paths do the same float operations in a
# different order, so they differ by rounding only: ~1e-16 relative in float64, ~1e-7 in float32.
MANUAL_TOL = {"float64": 1e-10, "float32": 1e-5}
# numerical vs autograd: |Δ| ≤ tol · max(1, max|g|) + the quotient's rounding error (engine.core.numerical's
# noise, ~ε·|L|/h), the latter never more than NUMERICAL_TRUST · max|g|: where rounding is that large the
# finite differences cannot confirm the gradient, and a wrong one must not pass. In float32 the autograd
# side itself is only good to ~1e-7 relative.
NUMERICAL_TOL = {"float64": 1e-6, "float32": 1e-4}
NUMERICAL_TRUST = 1e-2


@dataclass
class GradComparison:
    manual: torch.Tensor
    autograd: torch.Tensor
    numerical: torch.Tensor | None  # None where finite differences were skipped
    kink: torch.Tensor | None  # True where the numerical derivative is ill-defined (ReLU kink)
    max_abs_error: float  # max |manual − autograd|
    max_rel_error: float  # max |manual − autograd| / max |autograd|
    numerical_max_abs_error: float | None  # max |numerical − autograd| over kink-free elements
    agree: bool
    tolerance: float  # the manual-vs-autograd bound used
    numerical_tolerance: float | None = None  # the numerical-vs-autograd bound used (None: skipped)
    left_out_note: str | None = None  # why elements were left out of the numerical check, in words


@dataclass
class LayerTrace:
    index: int  # l, from 1
    activation: str
    layer: Layer  # its kind, sizes and activation (the layer protocol)
    params: dict[str, torch.Tensor]  # by torch's names; a linear layer's W_l "weight" (n_l, n_{l-1}), b_l "bias"
    input: torch.Tensor  # a_{l-1} (B, n_{l-1})
    z: torch.Tensor  # (B, n_l)
    a: torch.Tensor  # (B, n_l)
    grads: dict[str, GradComparison] = field(default_factory=dict)  # each parameter, then "z", "a", "input"
    values: dict[str, torch.Tensor] = field(default_factory=dict)  # the kind's forward values (mean, var, mask)
    children: list[LayerTrace] = field(default_factory=list)  # a residual block's inner layers

    @property
    def weight(self) -> torch.Tensor:
        return self.params["weight"]

    @property
    def bias(self) -> torch.Tensor:
        return self.params["bias"]

    @property
    def max_abs_error(self) -> float:
        return max([g.max_abs_error for g in self.grads.values()] + [c.max_abs_error for c in self.children])

    def flat(self) -> list[LayerTrace]:
        """This layer then its inner layers, in run order."""
        return [self] + [inner for child in self.children for inner in child.flat()]


@dataclass
class Trace:
    spec: NetworkSpec
    x: torch.Tensor
    y: torch.Tensor
    loss: float  # from the manual forward pass
    loss_autograd: float
    layers: list[LayerTrace]
    agree: bool
    numerical_note: str | None  # why finite differences were skipped, or None

    @property
    def all_layers(self) -> list[LayerTrace]:
        """Every layer in run order, a residual block's inner layers included."""
        return [lt for top in self.layers for lt in top.flat()]


def autograd_pass(m: Materialized, loss: str):
    """PyTorch's own ops and autograd on the same numbers: (loss, {(index, "input"|"z"|"a"): tensor}, the
    same keys → gradient, grads of each top-level layer's parameters as dicts). Every layer, inner ones
    included, runs through Layer.torch_run, which records its tensors."""
    params = [{name: t.clone().requires_grad_(True) for name, t in p.items()} for p in m.params]
    x = m.x.clone().requires_grad_(True)
    ctx = Context(training=True, state=m.state, record={})
    h = x
    for layer, p in zip(m.layers, params, strict=True):
        _, h = layer.torch_run(p, h, ctx)
    for t in ctx.record.values():
        t.retain_grad()
    value = LOSSES[loss].torch(h, m.y)
    value.backward()
    grads = {key: t.grad if t.grad is not None else torch.zeros_like(t) for key, t in ctx.record.items()}
    return (value.detach(), {k: t.detach() for k, t in ctx.record.items()}, grads,
            [{n: t.grad for n, t in p.items()} for p in params])


def compare(manual, autograd, numerical, kink, dtype: str, loss_value: float,
            conditioning: torch.Tensor | None = None, *, noise: float = 0.0,
            unreliable: torch.Tensor | None = None, kink_names: str = "") -> GradComparison:
    """Errors of manual and numerical against autograd, and whether both are within tolerance.

    conditioning (same shape, ≥ 1): how much one rounding error of the inputs is amplified in each element;
    the manual-vs-autograd bound grows by ε·|g|·conditioning there (see _output_conditioning).
    noise: the finite differences' rounding error bound; unreliable ⊆ kink: elements left out for being near
    the edge of the loss's domain rather than at a kink; kink_names: the activations with a kink, in words."""
    peak = autograd.abs().max().item() if autograd.numel() else 0.0  # max |autograd|, read once
    scale = max(1.0, peak)
    tol = MANUAL_TOL[dtype] * scale
    diff = (manual - autograd).abs()
    abs_err = diff.max().item() if manual.numel() else 0.0
    rel_err = abs_err / max(peak, 1e-300) if manual.numel() else 0.0
    if conditioning is not None and manual.numel():
        allowed = tol + 4 * torch.finfo(autograd.dtype).eps * autograd.abs() * conditioning
        tol = allowed.max().item()
        agree = bool((diff <= allowed).all())
    else:
        agree = abs_err <= tol
    num_err = num_tol = note = None
    if numerical is not None:
        ok = ~kink
        diff = (numerical - autograd.to(torch.float64)).abs()[ok]
        num_err = diff.max().item() if diff.numel() else 0.0
        num_tol = NUMERICAL_TOL[dtype] * scale + min(noise, NUMERICAL_TRUST * peak)
        agree = agree and num_err <= num_tol
        note = _left_out_note(kink, unreliable, kink_names, noise, peak)
    return GradComparison(manual, autograd, numerical, kink, abs_err, rel_err, num_err, agree, tol, num_tol, note)


def _left_out_note(kink, unreliable, kink_names: str, noise: float, peak: float) -> str | None:
    """Why some elements are not compared, or why the comparison cannot confirm the gradient."""
    notes = []
    unreliable = unreliable if unreliable is not None else torch.zeros_like(kink)
    for mask, why in ((kink & ~unreliable, f"nudging θ by ±h pushes some {kink_names} input across its kink at 0, "
                                           "so the difference quotient is not a derivative there"),
                      (unreliable, "the output is within 1e-4 of 0 or 1, the edge of the loss's domain, where the "
                                   "difference quotient is unreliable")):
        if bool(mask.any()):
            where = [str(tuple(ix)) if len(ix) > 1 else str(ix[0]) for ix in mask.nonzero().tolist()]
            more = f" … ({len(where)} in all)" if len(where) > 12 else ""
            notes.append(f"left out at {', '.join(where[:12])}{more}: {why}.")
    if noise > NUMERICAL_TRUST * peak:
        notes.append(f"finite differences cannot confirm this gradient: rounding the loss over h gives errors up to "
                     f"{noise:.1e}, more than {NUMERICAL_TRUST:.0%} of max|g| = {peak:.1e}.")
    return " ".join(notes) or None


def _output_conditioning(spec: NetworkSpec, a: torch.Tensor) -> torch.Tensor | None:
    """bce's ∂L/∂a = (a − y)/(a(1 − a)B·k): one ulp of a moves it by a factor 1 + ulp/min(a, 1 − a), so two
    correct evaluations near a saturated output differ by far more than ε. None for every other loss."""
    if not LOSSES[spec.loss].unit_interval:
        return None
    return 1.0 / torch.minimum(a, 1 - a).clamp(min=torch.finfo(a.dtype).tiny)


def trace(spec: NetworkSpec, *, numerical: bool = True, progress: Callable[[float], None] | None = None) -> Trace:
    """Run the spec's network once forward and backward, and compare the three gradients per layer.
    progress: told the fraction (0–1) of the row-wise finite differences done, as they go (a progress bar)."""
    m = materialize(spec)
    fwd = chain_rule.forward(m.layers, m.params, spec.loss, m.x, m.y, m.context())
    bwd = chain_rule.backward(m.layers, m.params, spec.loss, fwd, m.y)
    loss_ag, _, g_auto, gp = autograd_pass(m, spec.loss)
    note = _skip_reason(spec, m) if numerical else "finite differences not requested"
    num = _numerical(m, spec.loss, progress) if note is None else None
    last = flat(m.layers)[-1].index
    cond = _output_conditioning(spec, fwd.activations[-1])
    loss_value = fwd.loss.item()
    kinks = {lay.activation.name for lay in flat(m.layers) if lay.activation.kink}
    kink_names = " or ".join(sorted(kinks)) or "activation"

    def build(layer, params, auto_params, x, z, a, cache, manual) -> LayerTrace:
        block_params = params
        if layer.children:  # a block's parameters are its inner layers': shown with them, not twice
            params, manual = {}, {name: manual[name] for name in ("z", "a", "input")}
        lt = LayerTrace(layer.index, layer.activation.name, layer, params, x, z, a,
                        values=layer.forward_values(cache))
        auto = {**auto_params, **{name: g_auto[(layer.index, name)] for name in ("z", "a", "input")}}
        for name in manual:
            n = num[layer.index][name] if num else None
            lt.grads[name] = compare(manual[name], auto[name], n and n.grad, n and n.left_out, spec.dtype, loss_value,
                                     cond if (layer.index, name) == (last, "a") else None,
                                     noise=n.noise if n else 0.0, unreliable=n and n.unreliable,
                                     kink_names=kink_names)
        for k, child in enumerate(layer.children):
            step = cache["steps"][k]
            lt.children.append(build(child, split(block_params, k), split(auto_params, k), step["input"], step["z"],
                                     step["a"], step["cache"], cache["inner"][child.index]))
        return lt

    layers = []
    for l, layer in enumerate(m.layers, start=1):
        manual = {**bwd.params[l - 1], "z": bwd.delta[l - 1], "a": bwd.grad_a[l], "input": bwd.grad_a[l - 1]}
        layers.append(build(layer, m.params[l - 1], gp[l - 1], fwd.activations[l - 1], fwd.zs[l - 1],
                            fwd.activations[l], fwd.caches[l - 1], manual))
    agree = all(g.agree for top in layers for lt in top.flat() for g in lt.grads.values())
    return Trace(spec, m.x, m.y, loss_value, loss_ag.item(), layers, agree, note)


def _skip_reason(spec: NetworkSpec, m: Materialized) -> str | None:
    if all(layer.rowwise for layer in m.layers):
        return numerical_skip_reason(spec.sizes, m.x.shape[0], [layer.type for layer in spec.layers])
    runs = n_runs(m.layers, m.x.shape[0])
    if runs > MAX_RUNS:
        return (f"finite differences skipped: {runs:,} whole-batch forward passes is over the {MAX_RUNS:,} limit "
                "(BatchNorm, dropout and residual blocks perturb whole batches); use a smaller batch or network")
    return None


def _numerical(m: Materialized, loss: str, progress: Callable[[float], None] | None = None) -> dict:
    """Finite differences on float64 copies (a float32 net's numbers are exact in float64), by layer index."""
    d = torch.float64
    params = [{name: t.to(d) for name, t in p.items()} for p in m.params]
    y = m.y if m.y.dtype == torch.int64 else m.y.to(d)
    state = {i: {k: v.to(d) for k, v in s.items()} for i, s in m.state.items()}
    if not all(layer.rowwise for layer in m.layers):
        return whole_batch_gradients(m.layers, params, loss, m.x.to(d), y, state)
    fwd = chain_rule.forward(m.layers, params, loss, m.x.to(d), y, Context(state=state))
    rows = numerical_gradients(m.layers, params, loss, m.x.to(d), y, fwd.zs, fwd.activations, progress)
    return {layer.index: g for layer, g in zip(m.layers, rows, strict=True)}
