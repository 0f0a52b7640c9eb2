"""The linear layer in the exported program: z_l = a_{l-1} W_lᵀ + b_l (torch.nn.Linear), W_l (out, in)."""
from __future__ import annotations

PARAMS = {"weight": "W", "bias": "b"}


def forward(v, walk) -> list[str]:
    B, n_in, n_out = v.B, v.layer.fan_in, v.layer.units
    if "bias" not in v.layer.param_shapes():
        return [f"{v.z} = {v.x} @ {v.param('weight')}.T  # ({B}, {n_out}) = ({B}, {n_in})({n_in}, {n_out})"]
    return [f"{v.z} = {v.x} @ {v.param('weight')}.T + {v.param('bias')}  "
            f"# ({B}, {n_out}) = ({B}, {n_in})({n_in}, {n_out}) + ({n_out},)"]


def backward(v, walk) -> list[str]:
    B, n_in, n_out, l = v.B, v.layer.fan_in, v.layer.units, v.layer.index
    lines = [f"{v.grad('weight')} = {v.delta}.T @ {v.x}  # ∂L/∂W_{l} = δ_{l}ᵀ {v.x}: "
             f"({n_out}, {B})({B}, {n_in}) → ({n_out}, {n_in})"]
    if "bias" in v.layer.param_shapes():
        lines.append(f"{v.grad('bias')} = {v.delta}.sum(dim=0)  # ∂L/∂b_{l} = Σ_rows δ_{l}: ({n_out},)")
    lines.append(f"{v.dx} = {v.delta} @ {v.param('weight')}  # ∂L/∂{v.x} = δ_{l} W_{l}: "
                 f"({B}, {n_out})({n_out}, {n_in}) → ({B}, {n_in})")
    return lines
