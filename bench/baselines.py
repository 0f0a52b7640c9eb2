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
