"""The layer protocol: what one kind of layer provides so that the trace, the Math tab, the diagram,
training with a hand-written backward and the health panel can all iterate over layers without knowing
the kind.

A layer maps its input a_{l-1} (B, n_{l-1}) to z_l (B, n_l) and then applies its activation φ_l from
engine.core.ops: a_l = φ_l(z_l). The kind writes the first step (CS231n's pair with a cache); the
activation step is the same for every kind and lives here.

What a kind implements (see linear.py, the first kind):
- `param_shapes()` with torch's names ("weight", "bias"), and `init_params(init, gen, dtype)`;
- `forward(params, x, ctx) -> (z, cache)` and `backward(params, cache, delta, need_input) ->
  (param grads, ∂L/∂x)`: the manual pair, no autograd;
- `torch_forward(params, x, ctx) -> z` with torch.nn.functional: the autograd column, finite differences
  and training use it;
- `latex_forward(l, B)`, `latex_backward(l, B)` and `latex_grad_input(l)`: the Math tab with real shapes;
- `health_param`: which parameter's gradient norm and update ratio the health panel follows;
- optionally `param_probes(...)`: a fast way to write parameter perturbations as moves of z
  (the default works for every row-wise kind, one forward per parameter element).

Planned kinds and what the protocol already carries for them:
- BatchNorm: batch statistics couple the rows → `rowwise = False` (finite differences then push whole
  batches, not single rows); running mean/var are buffers kept in `ctx.state[index]`, updated when
  `ctx.training` and used when not.
- LayerNorm: row-wise, parameters weight/bias of shape (n,), nothing new.
- Dropout: the mask is drawn from `ctx.generator` (seeded from the spec's seed, drawn in run order) in
  `forward` and kept in the cache; `torch_forward` must draw the same mask, so the mask goes in
  `ctx.state[index]` the first time and is read back after; off when not `ctx.training`.
- Residual block: `children` holds the inner layers (numbered in run order after the block's own
  index); its forward is φ(x + inner(x)), its backward adds the skip path's ∂L/∂x to the inner one's.
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar

import torch

from engine.core.ops import ACTIVATIONS

Params = dict[str, torch.Tensor]


@dataclass
class Context:
    """What a forward pass may need besides x and the parameters."""

    training: bool = True  # batch statistics and dropout masks (True) or running statistics, no mask
    generator: torch.Generator | None = None  # random masks, seeded from the spec's seed
    state: dict = field(default_factory=dict)  # per layer index: running statistics, a drawn mask
    update_stats: bool = False  # move running statistics (training does; a trace's repeated passes must not)
    record: dict | None = None  # torch_run writes (index, "input"|"z"|"a") → tensor here when given
    perturb: tuple | None = None  # ((index, name), Δ): torch_run adds Δ to that tensor (finite differences)

    def hook(self, index: int, name: str, t: torch.Tensor) -> torch.Tensor:
        """The tensor `name` of layer `index` as torch_run passes it on: moved by Δ when perturbed, recorded."""
        if self.perturb is not None and self.perturb[0] == (index, name):
            t = t + self.perturb[1]
        elif self.record is not None:
            t = t.view_as(t)  # its own autograd node: a block's inner input gets the inner path's gradient only
        if self.record is not None:
            self.record[(index, name)] = t
        return t


@dataclass
class ShiftProbes:
    """Perturbations of one parameter written as moves of single z elements (cheap to evaluate).

    Perturbation k moves z[rows[k], cols[k]] by ±shift[k]; it belongs to parameter element target[k]
    (flat index), whose difference is the sum of its perturbations' differences."""

    rows: torch.Tensor
    cols: torch.Tensor
    shift: torch.Tensor
    target: torch.Tensor


@dataclass
class DenseProbes:
    """Perturbations written as whole z rows: perturbation k moves row rows[k] of z by ±vectors[k] (K, n)."""

    rows: torch.Tensor
    vectors: torch.Tensor
    target: torch.Tensor


class Layer(ABC):
    """One layer of a network: a kind with its sizes, its place and the activation it carries."""

    type: ClassVar[str]  # the spec's "type"
    rowwise: ClassVar[bool] = True  # z row r depends on input row r only (BatchNorm in training: False)
    health_param: ClassVar[str | None] = "weight"  # the parameter the health panel follows
    # finite differences' cost model (engine.core.numerical.numerical_work): input_map gives a matrix, and
    # param_probes returns ShiftProbes (single z elements) rather than whole rows
    affine_input: ClassVar[bool] = False
    shift_probes: ClassVar[bool] = False

    def __init__(self, index: int, fan_in: int, units: int, activation: str = "identity"):
        self.index, self.fan_in, self.units = index, fan_in, units  # index l from 1, in run order
        self.activation = ACTIVATIONS[activation]
        self.children: list[Layer] = []  # nested layers (a residual block's inner path)

    # ---- parameters ----
    @abstractmethod
    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """Parameter name (torch's) → shape, in the order they are drawn and listed."""

    @abstractmethod
    def init_params(self, init: str, gen: torch.Generator, dtype: torch.dtype) -> Params:
        """Parameters drawn by the named scheme from gen, in param_shapes' order."""

    def n_parameters(self) -> int:
        return sum(math.prod(s) for s in self.param_shapes().values())

    def initial_state(self, dtype: torch.dtype = torch.float32) -> dict:
        """{layer index: {buffer name: tensor}} this layer keeps between passes (BatchNorm's running
        statistics); a block includes its inner layers'. Most kinds keep nothing."""
        return {}

    def flat(self) -> list[Layer]:
        """This layer then its inner layers, in run order (the order of their indices)."""
        return [self] + [inner for child in self.children for inner in child.flat()]

    def forward_values(self, cache) -> dict[str, torch.Tensor]:
        """Intermediate forward values worth showing (BatchNorm's mean, var, x_hat; a dropout mask)."""
        return {}

    # ---- the manual pair (no autograd) ----
    @abstractmethod
    def forward(self, params: Params, x: torch.Tensor, ctx: Context) -> tuple[torch.Tensor, object]:
        """z (B, units) from x (B, fan_in), and what backward needs."""

    @abstractmethod
    def backward(self, params: Params, cache, delta: torch.Tensor,
                 need_input: bool = True) -> tuple[Params, torch.Tensor | None]:
        """From δ = ∂L/∂z (B, units): ({name: ∂L/∂param}, ∂L/∂x (B, fan_in) or None)."""

    def forward_into(self, params: Params, x: torch.Tensor, ctx: Context,
                     out: torch.Tensor) -> tuple[torch.Tensor, object]:
        """forward, with z written into the preallocated `out` (B, units) where the kind can (the fused
        training step). Default: forward as is (a new z)."""
        return self.forward(params, x, ctx)

    def backward_into(self, params: Params, cache, delta: torch.Tensor, grads: Params,
                      grad_x: torch.Tensor | None) -> None:
        """backward, written into preallocated tensors: grads[name] ← ∂L/∂param, and grad_x ← ∂L/∂x (B, fan_in)
        when given (None: not needed, the first layer). Default: backward, then a copy."""
        got, gx = self.backward(params, cache, delta, need_input=grad_x is not None)
        for name, g in got.items():
            grads[name].copy_(g)
        if grad_x is not None:
            grad_x.copy_(gx)

    # ---- the torch reference ----
    @abstractmethod
    def torch_forward(self, params: Params, x: torch.Tensor, ctx: Context | None = None) -> torch.Tensor:
        """The same z by torch.nn.functional (differentiable)."""

    # ---- LaTeX with the network's shapes (lists of (caption, latex)) ----
    @abstractmethod
    def latex_forward(self, B: int) -> list[tuple[str, str]]:
        """z_l from a_{l-1}."""

    @abstractmethod
    def latex_backward(self, B: int) -> list[tuple[str, str]]:
        """Parameter gradients and ∂L/∂a_{l-1} from δ_l."""

    @abstractmethod
    def latex_grad_input(self) -> str:
        """∂L/∂a_{l-1} as an expression in δ_l (the layer below writes its δ with it)."""

    def element_terms(self, params: Params, x: torch.Tensor, values: Params, delta: torch.Tensor, r: int, j: int,
                      inner: torch.Tensor | None = None):
        """∂L/∂a_{l-1}[r, j] written out with these numbers (an ElementTerms, engine.core.layers.terms), from
        x = a_{l-1} (B, fan_in), the forward values, δ_l (B, units) and, for a block, its inner path's ∂L/∂x;
        None for kinds whose Math tab shows one weight term by term instead (linear)."""
        return None

    # ---- the diagram ----
    def connections(self, values: Params) -> torch.Tensor | None:
        """(units, fan_in) strengths of the edges into this layer from `values` (parameters or their
        gradients), or None when the layer is not a dense map (edges are then drawn one to one)."""
        return None

    # ---- finite differences ----
    def input_map(self, params: Params) -> torch.Tensor | None:
        """M (units, fan_in) when z is affine in x row by row (z = x Mᵀ + c): moving x[r, i] by s then moves z
        row r by s·M[:, i], which finite differences use instead of a forward pass. None: not affine."""
        return None

    def param_probes(self, params: Params, x: torch.Tensor, z: torch.Tensor, h: float) -> dict:
        """{name: probes} for every parameter element ±h. Generic (row-wise kinds): re-run torch_forward
        with one element moved, which gives each row's whole z move (a DenseProbes)."""
        if not self.rowwise:
            raise NotImplementedError(f"{self.type}: finite differences over whole batches are not written yet")
        out = {}
        rows = torch.arange(x.shape[0])
        for name, p in params.items():
            moves, targets = [], []
            for k in range(p.numel()):
                moved = dict(params)
                moved[name] = p.clone()
                moved[name].view(-1)[k] += h
                moves.append(self.torch_forward(moved, x) - z)  # (B, units)
                targets.append(torch.full((x.shape[0],), k))
            out[name] = DenseProbes(rows.repeat(p.numel()), torch.cat(moves), torch.cat(targets))
        return out

    # ---- the activation this layer carries ----
    def apply(self, params: Params, x: torch.Tensor, ctx: Context) -> tuple[torch.Tensor, torch.Tensor, object]:
        """Manual forward with the activation: (z, a = φ(z), cache)."""
        z, cache = self.forward(params, x, ctx)
        return z, self.activation.forward(z), cache

    def torch_run(self, params: Params, x: torch.Tensor, ctx: Context) -> tuple[torch.Tensor, torch.Tensor]:
        """(z, a) by torch, passing the layer's input, z and a through ctx.hook (recorded, perturbed)."""
        x = ctx.hook(self.index, "input", x)
        z = ctx.hook(self.index, "z", self.torch_forward(params, x, ctx))
        return z, ctx.hook(self.index, "a", self.activation.torch(z))

    def describe(self) -> str:
        """One line for a diagram or a table: 'linear 4→3, relu'."""
        return f"{self.type} {self.fan_in}→{self.units}, {self.activation.name}"


def manual_function(layer_type: type[Layer]) -> type[torch.autograd.Function]:
    """An autograd.Function whose backward is the kind's hand-written one (training with --backward manual).

    apply(layer, context, x, *params in param_shapes' order) → z; the activation stays torch's, outside.
    context (or None) says training or evaluation and holds the running statistics."""

    def forward(ctx, layer, context, x, *values):
        params = dict(zip(layer.param_shapes(), values, strict=True))
        z, cache = layer.forward(params, x, context or Context())
        ctx.layer, ctx.cache, ctx.params = layer, cache, params
        return z

    def backward(ctx, delta):
        grads, grad_x = ctx.layer.backward(ctx.params, ctx.cache, delta, need_input=ctx.needs_input_grad[2])
        return (None, None, grad_x, *(grads[name] if ctx.needs_input_grad[3 + i] else None
                                for i, name in enumerate(ctx.params)))

    # built with type() so that autograd names its node after the kind (ManualLinearFunctionBackward)
    return type(f"Manual{layer_type.__name__}Function", (torch.autograd.Function,),
                {"forward": staticmethod(forward), "backward": staticmethod(backward)})
