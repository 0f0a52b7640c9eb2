"""BatchNorm in the exported program (torch.nn.BatchNorm1d in training mode): per feature over the B rows
(engine.export.kinds.norm). Backward, the rows coupled through μ and σ²:
  ∂L/∂x = (γ/(Bσ)) (B δ − Σ_r δ − x̂ ⊙ Σ_r (δ ⊙ x̂)) (B, n).
"""
from __future__ import annotations

from engine.export.kinds.norm import PARAMS, affine_grads, normalise

__all__ = ["PARAMS", "backward", "forward"]


def forward(v, walk) -> list[str]:
    return normalise(v, "dim=0", f"of each feature over the {v.B} rows", f"({v.layer.units},)")


def backward(v, walk) -> list[str]:
    l, B, n = v.layer.index, v.B, v.layer.units
    return affine_grads(v) + [
        f"{v.dx} = {v.param('weight')} / ({B} * sigma{l}) * ({B} * {v.delta} - {v.grad('bias')} - xhat{l} * "
        f"{v.grad('weight')})  # ∂L/∂{v.x} = (γ/(Bσ))(Bδ − Σ_r δ − x̂ ⊙ Σ_r(δ ⊙ x̂)): through x̂, μ and σ² ({B}, {n})"]
