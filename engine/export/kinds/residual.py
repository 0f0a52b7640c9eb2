"""A residual block in the exported program: z = x + f(x), f its inner layers (each with its activation) in
order, ending at the block's input width. Backward: ∂L/∂(last inner a) = δ (z = x + a_last), the inner layers'
chain rule down to their input, and ∂L/∂x = δ (the skip) + the inner path's share."""
from __future__ import annotations

PARAMS: dict[str, str] = {}


def inner_vars(v, walk) -> list:
    """The inner layers' names: the first reads the block's input and writes only its path's share of ∂L/∂x."""
    out, x = [], v.x
    for k, child in enumerate(v.layer.children):
        out.append(walk.vars(child, x, f"{v.dx}_f{v.layer.index}" if k == 0 else f"d{x}", total=k > 0))
        x = out[-1].a
    return out


def forward(v, walk) -> list[str]:
    inner = inner_vars(v, walk)
    lines = [f"# residual block {v.layer.index}: z_{v.layer.index} = {v.x} + f({v.x}), f = layers "
             + ", ".join(str(c.layer.index) for c in inner)]
    for c in inner:
        lines += walk.forward(c)
    return lines + [f"{v.z} = {v.x} + {inner[-1].a}  # the skip adds the input to what the inner layers computed "
                    f"({v.B}, {v.layer.units})"]


def backward(v, walk) -> list[str]:
    inner = inner_vars(v, walk)
    lines = [f"{inner[-1].da} = {v.delta}  # z_{v.layer.index} = {v.x} + {inner[-1].a}, so ∂L/∂{inner[-1].a} = "
             f"δ_{v.layer.index}"]
    for c in reversed(inner):
        lines += walk.backward(c)
    return lines + [f"{v.dx} = {v.delta} + {inner[0].dx}  # two paths into {v.x}: the skip (δ_{v.layer.index}) "
                    "and the inner layers"]
