"""trace(spec): one forward and backward pass, every gradient three ways — manual, autograd, numerical.

The comparison per tensor: max |manual − autograd|, that divided by max |autograd| (normwise relative
error, which stays meaningful where single entries are ~0), and the same for numerical − autograd on
the elements where finite differences are defined (no ReLU kink inside [θ − h, θ + h]).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from engine.core import chain_rule
from engine.core.layers import Layer
from engine.core.numerical import numerical_gradients, numerical_skip_reason
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

    @property
    def weight(self) -> torch.Tensor:
        return self.params["weight"]

    @property
    def bias(self) -> torch.Tensor:
        return self.params["bias"]

    @property
    def max_abs_error(self) -> float:
        return max(g.max_abs_error for g in self.grads.values())


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


def autograd_pass(m: Materialized, loss: str):
    """PyTorch's own ops and autograd on the same numbers: (loss, zs, acts, grads of z, grads of a,
    grads of each layer's parameters as dicts)."""
    params = [{name: t.clone().requires_grad_(True) for name, t in p.items()} for p in m.params]
    x = m.x.clone().requires_grad_(True)
    zs, acts = [], [x]
    for layer, p in zip(m.layers, params, strict=True):
        z = layer.torch_forward(p, acts[-1])
        a = layer.activation.torch(z)
        z.retain_grad()
        a.retain_grad()
        zs.append(z)
        acts.append(a)
    value = LOSSES[loss].torch(acts[-1], m.y)
    value.backward()
    return (value.detach(), [z.detach() for z in zs], [a.detach() for a in acts],
            [z.grad for z in zs], [a.grad for a in acts], [{n: t.grad for n, t in p.items()} for p in params])


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


def trace(spec: NetworkSpec, *, numerical: bool = True) -> Trace:
    """Run the spec's network once forward and backward, and compare the three gradients per layer."""
    m = materialize(spec)
    fwd = chain_rule.forward(m.layers, m.params, spec.loss, m.x, m.y)
    bwd = chain_rule.backward(m.layers, m.params, spec.loss, fwd, m.y)
    loss_ag, _, _, gz, ga, gp = autograd_pass(m, spec.loss)
    types = [layer.type for layer in spec.layers]
    note = numerical_skip_reason(spec.sizes, m.x.shape[0], types) if numerical else "finite differences not requested"
    num = _numerical(m, spec.loss) if note is None else None
    layers, loss_value = [], fwd.loss.item()
    kink_names = " or ".join(sorted({lay.activation.name for lay in m.layers if lay.activation.kink})) or "activation"
    for l, layer in enumerate(m.layers, start=1):
        manual = {**bwd.params[l - 1], "z": bwd.delta[l - 1], "a": bwd.grad_a[l], "input": bwd.grad_a[l - 1]}
        auto = {**gp[l - 1], "z": gz[l - 1], "a": ga[l], "input": ga[l - 1]}
        lt = LayerTrace(l, layer.activation.name, layer, m.params[l - 1], fwd.activations[l - 1],
                        fwd.zs[l - 1], fwd.activations[l])
        for name in manual:
            n = num[l - 1][name] if num else None
            cond = _output_conditioning(spec, fwd.activations[-1]) if (l, name) == (len(spec.layers), "a") else None
            lt.grads[name] = compare(manual[name], auto[name], n and n.grad, n and n.left_out, spec.dtype, loss_value,
                                     cond, noise=n.noise if n else 0.0, unreliable=n and n.unreliable,
                                     kink_names=kink_names)
        layers.append(lt)
    agree = all(g.agree for lt in layers for g in lt.grads.values())
    return Trace(spec, m.x, m.y, loss_value, loss_ag.item(), layers, agree, note)


def _numerical(m: Materialized, loss: str) -> list[dict]:
    """Finite differences on float64 copies (a float32 net's numbers are exact in float64)."""
    d = torch.float64
    params = [{name: t.to(d) for name, t in p.items()} for p in m.params]
    y = m.y if m.y.dtype == torch.int64 else m.y.to(d)
    fwd = chain_rule.forward(m.layers, params, loss, m.x.to(d), y)
    return numerical_gradients(m.layers, params, loss, m.x.to(d), y, fwd.zs, fwd.activations)
