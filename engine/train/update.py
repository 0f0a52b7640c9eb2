"""The optimizer update of a training step, with torch.optim's per-step Python taken out where that is exact.

torch.optim.SGD(fused=True).step() spends most of its time outside its kernel: it rebuilds the lists of
parameters, gradients and momentum buffers, groups them by device and dtype, and checks them — on this CPU
~100–300 µs a step for the MNIST network, against ~40 µs in the kernel (bench/README.md, issue 16). DirectSGD
calls that same kernel, torch._fused_sgd_, with the same arguments SGD._fused_sgd would pass, so parameters and
momentum buffers come out bit for bit the same (tests/test_update.py), and the optimizer object stays the one
source of truth: its param_groups (a schedule or a branch changes lr there) and its state (the momentum buffers,
which load_state_dict replaces) are read on every call, and checkpoints save the optimizer as before.
"""
from __future__ import annotations

from collections.abc import Callable

import torch


def make_update(opt: torch.optim.Optimizer) -> Callable[[], object]:
    """A no-argument callable that applies one update: DirectSGD where it is exact, opt.step otherwise."""
    return DirectSGD(opt) if direct_sgd_fits(opt) else opt.step


def direct_sgd_fits(opt: torch.optim.Optimizer) -> bool:
    """torch.optim.SGD with its fused kernel, one parameter group, no gradient scaling (the amp path)."""
    if type(opt) is not torch.optim.SGD or len(opt.param_groups) != 1:
        return False
    group = opt.param_groups[0]
    kinds = {(p.device, p.dtype, p.is_sparse) for p in group["params"]}  # SGD groups by device and dtype
    return (bool(group.get("fused")) and not group.get("differentiable") and len(kinds) == 1
            and getattr(opt, "grad_scale", None) is None)


class DirectSGD:
    """opt.step() for a fused torch.optim.SGD, as the kernel call alone.

    The first call is opt.step() itself: it creates the momentum buffers (is_first_step) and marks the
    optimizer as stepped for an lr schedule (which warns otherwise). Later calls fall back to opt.step() where
    the kernel's arguments would differ from SGD's: a missing momentum buffer or a parameter without a
    gradient (SGD skips it)."""

    def __init__(self, opt: torch.optim.SGD):
        self.opt, self.first = opt, True

    def __call__(self) -> None:
        group = self.opt.param_groups[0]  # load_state_dict replaces the group dicts: read it every step
        params = group["params"]
        grads = [p.grad for p in params]
        momentum = group["momentum"]
        buffers = [self.opt.state[p].get("momentum_buffer") for p in params] if momentum != 0 else []
        if self.first or any(g is None for g in grads) or any(b is None for b in buffers):
            self.first = False
            self.opt.step()
            return
        with torch.no_grad():  # as SGD.step: in-place updates of leaves that require grad
            torch._fused_sgd_(params, grads, buffers, weight_decay=group["weight_decay"], momentum=momentum,
                              lr=group["lr"], dampening=group["dampening"], nesterov=group["nesterov"],
                              maximize=group["maximize"], is_first_step=False, grad_scale=None, found_inf=None)
