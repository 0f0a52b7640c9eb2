"""What BatchNorm and LayerNorm share in the exported program: normalise over one axis, then γ and β.

  μ, σ² = mean and biased variance over the axis; σ = √(σ² + ε); x̂ = (x − μ)/σ (B, n); z = γ ⊙ x̂ + β.
  ∂L/∂γ = Σ_r δ ⊙ x̂; ∂L/∂β = Σ_r δ (n,) — both kinds sum over the rows (γ and β are per feature).
"""
from __future__ import annotations

PARAMS = {"weight": "gamma", "bias": "beta"}


def normalise(v, axis: str, over: str, stats: str) -> list[str]:
    """Lines for μ_l, σ²_l, σ_l, x̂_l and z_l; axis: torch's reduction arguments ("dim=0"), stats: their shape."""
    l, x, B, n = v.layer.index, v.x, v.B, v.layer.units
    return [f"mu{l} = {x}.mean({axis})  # μ_{l}: the mean {over} {stats}",
            f"var{l} = (({x} - mu{l}) ** 2).mean({axis})  # σ²_{l}: biased variance, as torch normalises {stats}",
            f"sigma{l} = torch.sqrt(var{l} + {v.layer.eps!r})  # σ_{l} = √(σ² + ε) {stats}",
            f"xhat{l} = ({x} - mu{l}) / sigma{l}  # x̂_{l}: normalised ({B}, {n})",
            f"{v.z} = {v.param('weight')} * xhat{l} + {v.param('bias')}  # z_{l} = γ ⊙ x̂ + β ({B}, {n})"]


def affine_grads(v) -> list[str]:
    l, n = v.layer.index, v.layer.units
    return [f"{v.grad('weight')} = ({v.delta} * xhat{l}).sum(dim=0)  # ∂L/∂γ_{l} = Σ_r δ_{l} ⊙ x̂_{l} ({n},)",
            f"{v.grad('bias')} = {v.delta}.sum(dim=0)  # ∂L/∂β_{l} = Σ_r δ_{l} ({n},)"]
