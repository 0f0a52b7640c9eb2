"""Which device computes: cuda > mps > cpu unless the user names one."""
from __future__ import annotations

import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps and mps.is_available())


def pick_device(preference: str = "auto") -> torch.device:
    """The torch.device for a preference; ValueError saying what is available when it cannot be had."""
    if preference not in DEVICE_CHOICES:
        raise ValueError(f"unknown device {preference!r}; use one of {', '.join(DEVICE_CHOICES)}")
    if preference == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    if preference == "cuda" and not torch.cuda.is_available():
        raise ValueError("CUDA was asked for but no CUDA GPU is visible to PyTorch; use --device auto or cpu")
    if preference == "mps" and not _mps_available():
        raise ValueError("MPS was asked for but is not available on this machine; use --device auto or cpu")
    return torch.device(preference)


def device_label(device: torch.device | None = None) -> str:
    """A human name: 'CUDA: NVIDIA H100 80GB HBM3', 'Apple MPS' or 'CPU (2 threads)'."""
    device = device or pick_device()
    if device.type == "cuda":
        return f"CUDA: {torch.cuda.get_device_name(device)}"
    if device.type == "mps":
        return "Apple MPS"
    n = torch.get_num_threads()
    return f"CPU ({n} thread{'s' if n != 1 else ''})"


def configure_threads(device: torch.device | None = None) -> int:
    """On a CPU box with ≤ 2 cores use one intra-op thread: the app trains on a background thread while
    pages rerun, and torch's parallel ops stall whenever another thread holds a core (bench row 9)."""
    import os

    device = device or pick_device()
    if device.type == "cpu" and (os.cpu_count() or 1) <= 2:
        torch.set_num_threads(1)
    return torch.get_num_threads()
