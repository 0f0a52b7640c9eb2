"""Inverted dropout in the exported program (torch.nn.Dropout(p) in training mode) with the trace's own mask,
written out as data: z = x ⊙ m/(1 − p) (B, n); backward ∂L/∂x = δ ⊙ m/(1 − p); no parameters."""
from __future__ import annotations

PARAMS: dict[str, str] = {}


def mask_var(layer) -> str:
    return f"mask{layer.index}"


def forward(v, walk) -> list[str]:
    l, p = v.layer.index, v.layer.p
    if p == 0:  # nothing is dropped (the engine ignores the mask): a copy, so z has its own gradient
        return [f"{v.z} = {v.x} * 1.0  # p = 0: dropout keeps every unit ({v.B}, {v.layer.units})"]
    return [f"{v.z} = {v.x} * {mask_var(v.layer)} / (1 - {p!r})  # z_{l} = a ⊙ m_{l}/(1 − p): kept units scaled "
            f"up, dropped ones 0 ({v.B}, {v.layer.units})"]


def backward(v, walk) -> list[str]:
    l, p = v.layer.index, v.layer.p
    if p == 0:
        return [f"{v.dx} = {v.delta}  # p = 0: the identity"]
    return [f"{v.dx} = {v.delta} * {mask_var(v.layer)} / (1 - {p!r})  # ∂L/∂{v.x} = δ_{l} ⊙ m_{l}/(1 − p): "
            f"a dropped unit passes no gradient ({v.B}, {v.layer.units})"]


def data(layer, state: dict) -> dict:
    """The pass's mask as data: {variable: (tensor, comment)}."""
    if layer.p == 0:
        return {}
    mask = state[layer.index]["mask"]
    return {mask_var(layer): (mask, f"{tuple(mask.shape)}: layer {layer.index}'s dropout mask, 1 kept, 0 dropped "
                                    f"(drawn once from the seed; the same in every column)")}
