"""The plain PyTorch loops our trainer is measured against: no metrics, no store, no events.

Same model shape (nn.Linear + ReLU), same loss (F.cross_entropy), same optimizer (torch.optim.SGD),
same in-memory tensors and the same batching by index from a seeded randperm as engine.train.loop.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


def mlp(sizes: list[int], device) -> nn.Sequential:
    """Linear → ReLU → … → Linear, nn.Linear's own init."""
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers).to(device)


def plain_epoch(x: torch.Tensor, y: torch.Tensor, sizes: list[int], *, batch: int, lr: float, momentum: float,
                seed: int = 0, max_steps: int | None = None) -> float:
    """One epoch over (x, y) already on their device; returns the last loss (the only host sync)."""
    torch.manual_seed(seed)
    model = mlp(sizes, x.device)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed + 1)).to(x.device)
    steps = math.ceil(len(x) / batch)
    loss = None
    for b in range(steps if max_steps is None else min(steps, max_steps)):
        idx = perm[b * batch:(b + 1) * batch]
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return loss.item()


def dataloader_epoch(x: torch.Tensor, y: torch.Tensor, sizes: list[int], *, batch: int, lr: float,
                     momentum: float, seed: int = 0, max_steps: int | None = None) -> float:
    """The tutorials' way: DataLoader(TensorDataset(x, y), batch_size, shuffle=True), one epoch."""
    torch.manual_seed(seed)
    model = mlp(sizes, x.device)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    loader = DataLoader(TensorDataset(x, y), batch_size=batch, shuffle=True,
                        generator=torch.Generator().manual_seed(seed + 1))
    loss = None
    for step, (xb, yb) in enumerate(loader):
        if max_steps is not None and step >= max_steps:
            break
        loss = F.cross_entropy(model(xb), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return loss.item()


def matmul_floor_epoch(x: torch.Tensor, sizes: list[int], *, batch: int, seed: int = 0,
                       max_steps: int | None = None) -> None:
    """Only the matrix products a training step cannot avoid, over contiguous batches, into reused buffers:
    per batch L forward products z_l = a_{l-1} W_lᵀ, L weight gradients δ_lᵀ a_{l-1} and L − 1 input gradients
    δ_l W_l (8 for 784-128-64-10). No bias, activation, loss, optimizer, batching or metrics: a floor,
    not a loop anyone could train with. Weights stay fixed (nan-free) and the δ's are the z's (any numbers do)."""
    gen = torch.Generator().manual_seed(seed)
    ws = [torch.randn(sizes[i + 1], sizes[i], generator=gen).to(x.device) * 0.05 for i in range(len(sizes) - 1)]
    zs = [x.new_empty(batch, n) for n in sizes[1:]]
    gws = [torch.empty_like(w) for w in ws]
    gas = [x.new_empty(batch, n) for n in sizes[1:-1]]
    steps = len(x) // batch  # whole batches only: the products' shapes stay fixed
    for b in range(steps if max_steps is None else min(steps, max_steps)):
        a = x[b * batch:(b + 1) * batch]
        acts = [a]
        for w, z in zip(ws, zs, strict=True):
            acts.append(torch.mm(acts[-1], w.T, out=z))
        delta = zs[-1]
        for l in range(len(ws) - 1, -1, -1):
            torch.mm(delta.T, acts[l], out=gws[l])
            if l > 0:
                delta = torch.mm(delta, ws[l], out=gas[l - 1])
