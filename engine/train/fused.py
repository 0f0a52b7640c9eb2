"""The fused training step: forward and the hand-derived backward of the layer protocol, no autograd.

One step on a batch x (B, n_0) with targets t, for layers l = 1…L (DESIGN.md notation):
  forward   z_l = layer_l.forward_into(a_{l-1}) into a preallocated (B, n_l) buffer, a_l = φ_l(z_l);
  loss      L = the loss's torch twin on (a_L, t), the very function the autograd path calls;
  backward  δ_L from engine.core.ops.output_delta; then per layer l = L…1 its backward_into writes
            ∂L/∂W_l, ∂L/∂b_l into the parameters' .grad (preallocated once, never set to None) and
            ∂L/∂a_{l-1} (B, n_{l-1}) into a buffer; δ_{l-1} = ∂L/∂a_{l-1} ⊙ φ'_{l-1}(z_{l-1}).
The optimizer then reads .grad as after loss.backward(): everything after the step (health statistics,
histograms, the optimizer, its state, checkpoints) is the autograd path's code.

What it skips is autograd's bookkeeping (the graph, the saved tensors, the engine's thread hand-off)
and the module calls; the arithmetic is the same products in the same float type, so the losses equal
the autograd path's to rounding (tests/test_fused.py). Kinds it does not cover train with autograd,
and the start event says why (fused_problem).
"""
from __future__ import annotations

import torch

from engine.core.layers import Context
from engine.core.ops import LOSSES, output_delta

FUSED_KINDS = ("linear",)  # layer kinds whose forward_into / backward_into the fused step has been tested with


def fused_problem(model, loss: str) -> str | None:
    """Why this model cannot take the fused step (a phrase for the path shown), or None when it can."""
    kinds = sorted({m.kind.type for m in model.linears} - set(FUSED_KINDS))
    if kinds:
        return f"the fused step does not cover {', '.join(kinds)} layers yet"
    for m in model.linears:
        if not m.kind.rowwise or not m.kind.activation.elementwise:
            return f"the fused step does not cover {m.kind.describe()}"
    if loss not in LOSSES:
        return f"the fused step does not know the loss {loss!r}"
    return None


class FusedStep:
    """Call with (x (B, n_0), t): fills every parameter's .grad and returns (loss 0-d, a_L (B, n_L), [z_l])."""

    def __init__(self, model, loss: str, batch: int):
        self.layers = [m.kind for m in model.linears]
        self.params = [m.params() for m in model.linears]  # the nn.Parameters themselves, by torch's names
        self.loss, self.loss_name = LOSSES[loss].torch, loss
        first = next(model.parameters())
        like = dict(device=first.device, dtype=first.dtype)
        for p in model.parameters():  # gradients are written in place every step (out=), so they exist from now on
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        self.z_buffers = [torch.empty(batch, layer.units, **like) for layer in self.layers]
        # ∂L/∂a_{l-1} for l = 2…L (layer 1 needs no gradient of x)
        self.grad_a_buffers = [None] + [torch.empty(batch, layer.fan_in, **like) for layer in self.layers[1:]]
        self.ctx = Context()
        self.batch = batch

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        rows = x.shape[0]  # the last batch of an epoch may be short: views of the first rows of each buffer
        z_buffers = self.z_buffers if rows == self.batch else [buf[:rows] for buf in self.z_buffers]
        with torch.no_grad():
            a, zs, activations, caches = x, [], [x], []
            for layer, p, buf in zip(self.layers, self.params, z_buffers, strict=True):
                z, cache = layer.forward_into(p, a, self.ctx, buf)
                a = layer.activation.forward(z)
                zs.append(z)
                activations.append(a)
                caches.append(cache)
            value = self.loss(a, t)
            self._backward(zs, activations, caches, t)
        return value, a, zs

    def _backward(self, zs, activations, caches, t) -> None:
        rows, n = zs[0].shape[0], len(self.layers)
        _, delta = output_delta(self.loss_name, self.layers[-1].activation.name, zs[-1], activations[-1], t)
        for l in range(n, 0, -1):  # layer l, list index l − 1
            layer, params = self.layers[l - 1], self.params[l - 1]
            buf = self.grad_a_buffers[l - 1]
            grad_a = buf if buf is None or rows == self.batch else buf[:rows]
            layer.backward_into(params, caches[l - 1], delta, {k: v.grad for k, v in params.items()}, grad_a)
            if grad_a is not None:
                delta = self.layers[l - 2].activation.backward(zs[l - 2], activations[l - 1], grad_a)


GRAPH_MAX_BATCH = 4096  # CUDA graphs for batches up to this: there ~50 kernel launches a step cost more than the
# arithmetic (a batch-64 MNIST step is ~20 µs of work on an H200); bigger batches run eagerly. Unmeasured so far:
# bench rows 8 compare both on the next GPU session (bench/gpu_check.sh).
GRAPH_WARMUP = 3  # eager steps (on a side stream, as torch.cuda.graphs asks) before the capture


def graph_problem(cfg, device: torch.device, batch: int) -> str | None:
    """Why the fused step is not captured as a CUDA graph (None: it is). The update must be torch.optim's SGD
    with a constant learning rate: the graph bakes the lr in, and SGD keeps no step counter on the host."""
    if device.type != "cuda":
        return "not on CUDA"
    if cfg.optimizer != "sgd" or cfg.impl != "torch" or cfg.lr_schedule != "constant":
        return "CUDA graphs only for torch.optim's SGD at a constant learning rate"
    if batch > GRAPH_MAX_BATCH:
        return f"batch > {GRAPH_MAX_BATCH}: launches do not dominate"
    return None


class GraphedStep:
    """FusedStep and the optimizer update, captured once as one CUDA graph and replayed for every full batch.

    Call with a full batch (x, t): copies it into static buffers, replays, and returns (loss, a_L): the loss a
    fresh copy, a_L the static output (read it before the next call). The parameters and the optimizer state are
    the same tensors as for an eager step, so eager steps (a short last batch, health-statistics steps that
    need the gradients before the update) can come in between."""

    def __init__(self, step: FusedStep, opt: torch.optim.Optimizer, x_like: torch.Tensor, t_like: torch.Tensor,
                 batch: int):
        self.step, self.opt, self.batch = step, opt, batch
        self.x = x_like.new_empty((batch, *x_like.shape[1:]))
        self.t = t_like.new_empty((batch, *t_like.shape[1:]))
        self.graph, self.warm = None, 0

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.x.copy_(x)
        self.t.copy_(t)
        if self.graph is None and self.warm < GRAPH_WARMUP:  # real training steps, eager on a side stream
            self.warm += 1
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                loss, out, _ = self.step(self.x, self.t)
                self.opt.step()
            torch.cuda.current_stream().wait_stream(side)
            return loss.clone(), out
        if self.graph is None:  # capturing records the kernels without running them; the replay below runs them
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph):
                self.loss, self.out, _ = self.step(self.x, self.t)
                self.opt.step()
        self.graph.replay()
        return self.loss.clone(), self.out
