"""LayerNorm in the exported program (torch.nn.LayerNorm(n)): per row over its n features
(engine.export.kinds.norm). Backward with g = δ ⊙ γ = ∂L/∂x̂ (B, n), sums per row over the features j:
  ∂L/∂x = (n g − Σ_j g − x̂ ⊙ Σ_j (g ⊙ x̂)) / (n σ) (B, n).
"""
from __future__ import annotations

from engine.export.kinds.norm import PARAMS, affine_grads, normalise

__all__ = ["PARAMS", "backward", "forward"]


def forward(v, walk) -> list[str]:
    return normalise(v, "dim=1, keepdim=True", f"of each row over its {v.layer.units} features", f"({v.B}, 1)")


def backward(v, walk) -> list[str]:
    l, B, n = v.layer.index, v.B, v.layer.units
    return affine_grads(v) + [
        f"g{l} = {v.delta} * {v.param('weight')}  # ∂L/∂x̂_{l} = δ_{l} ⊙ γ_{l} ({B}, {n})",
        f"{v.dx} = ({n} * g{l} - g{l}.sum(dim=1, keepdim=True) - xhat{l} * (g{l} * xhat{l}).sum(dim=1, "
        f"keepdim=True)) / ({n} * sigma{l})  # ∂L/∂{v.x}: through x̂, μ and σ² of each row ({B}, {n})"]
