"""Layer normalisation, like torch.nn.LayerNorm(n): per row over the n features, then γ and β.

Forward (x (B, n)): μ_r = (1/n) Σ_j x[r, j], σ²_r = (1/n) Σ_j (x[r, j] − μ_r)² (B,); σ_r = √(σ²_r + ε);
  x̂ = (x − μ)/σ (B, n); z = γ ⊙ x̂ + β (B, n).
Backward (δ = ∂L/∂z (B, n); the same algebra as BatchNorm's, over columns instead of rows):
  ∂L/∂γ = Σ_r δ ⊙ x̂, ∂L/∂β = Σ_r δ (n,);  g = δ ⊙ γ (B, n);
  ∂L/∂x = (1/(n σ_r)) (n g − Σ_j g − x̂ ⊙ Σ_j (g ⊙ x̂))   (B, n), sums per row.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from engine.core.layers.affine import NormLayer
from engine.core.layers.base import Context, Params
from engine.core.layers.linear import _d, _shape
from engine.core.layers.terms import ElementTerms, NormAxis, aligned, dxhat_line, norm_paths, tex_number


class LayerNorm(NormLayer):
    """z_l = γ ⊙ (a_{l-1} − μ_row)/σ_row + β."""

    type = "layernorm"

    def forward(self, params: Params, x: torch.Tensor, ctx: Context):
        mean = x.mean(dim=1, keepdim=True)  # μ (B, 1)
        var = ((x - mean) ** 2).mean(dim=1, keepdim=True)  # biased σ² (B, 1)
        sigma = torch.sqrt(var + self.eps)
        x_hat = (x - mean) / sigma  # (B, n)
        return params["weight"] * x_hat + params["bias"], (x_hat, sigma, mean, var)

    def backward(self, params: Params, cache, delta: torch.Tensor, need_input: bool = True):
        x_hat, sigma, _, _ = cache
        grads = {"weight": (delta * x_hat).sum(dim=0), "bias": delta.sum(dim=0)}
        if not need_input:
            return grads, None
        g = delta * params["weight"]  # ∂L/∂x̂ (B, n)
        n = g.shape[1]
        grad_x = (n * g - g.sum(dim=1, keepdim=True) - x_hat * (g * x_hat).sum(dim=1, keepdim=True)) / (n * sigma)
        return grads, grad_x

    def torch_forward(self, params: Params, x: torch.Tensor, ctx: Context | None = None) -> torch.Tensor:
        return F.layer_norm(x, (self.units,), params["weight"], params["bias"], self.eps)

    def forward_values(self, cache) -> dict[str, torch.Tensor]:
        x_hat, _, mean, var = cache
        return {"mean": mean.squeeze(1), "var": var.squeeze(1), "x_hat": x_hat}

    def latex_forward(self, B: int) -> list[tuple[str, str]]:
        l, n = self.index, self.units
        a = f"a_{{{l - 1}}}"
        return [("Mean and biased variance of each row over its n features",
                 rf"\mu_{{{l}}}[r] = \tfrac{{1}}{{{n}}}\sum_j {a}[r,j],\ \sigma^2_{{{l}}}[r] = "
                 rf"\tfrac{{1}}{{{n}}}\sum_j ({a}[r,j] - \mu_{{{l}}}[r])^2 \quad {_shape(B)}"),
                ("Normalise each row, then scale by γ and shift by β",
                 rf"z_{{{l}}} = \gamma_{{{l}}} \odot \frac{{{a} - \mu_{{{l}}}}}{{\sqrt{{\sigma^2_{{{l}}} + \epsilon}}}}"
                 rf" + \beta_{{{l}}} \quad {_shape(B, n)}")]

    def latex_backward(self, B: int) -> list[tuple[str, str]]:
        l, n = self.index, self.units
        gamma, beta = rf"\gamma_{{{l}}}", rf"\beta_{{{l}}}"
        return [("γ and β: summed over the rows",
                 rf"{_d('L', gamma)} = \sum_r \delta_{{{l}}} \odot \hat x_{{{l}}},\ "
                 rf"{_d('L', beta)} = \sum_r \delta_{{{l}}} \quad {_shape(n)}"),
                ("Through x̂, σ² and μ of each row, with g = δ ⊙ γ; sums over the features j",
                 rf"{_d('L', f'a_{{{l - 1}}}')} = {self.latex_grad_input()} \quad {_shape(B, n)}")]

    def latex_grad_input(self) -> str:
        l, n = self.index, self.units
        g = rf"(\delta_{{{l}}}\odot\gamma_{{{l}}})"
        return (rf"\frac{{1}}{{{n}\sigma_{{{l}}}}}\Big({n}{g} - \sum_j {g} "
                rf"- \hat x_{{{l}}} \odot \sum_j ({g} \odot \hat x_{{{l}}})\Big)")

    def element_terms(self, params: Params, x: torch.Tensor, values: Params, delta: torch.Tensor, r: int, j: int,
                      inner: torch.Tensor | None = None) -> ElementTerms:
        """∂L/∂a_{l-1}[r, j] along row r's n features: g = δ[r,:] ⊙ γ, the paths through μ_r and σ²_r, then the
        compact form (1/(nσ_r)) (n g[j] − Σ_j g − x̂[r,j] Σ_j g ⊙ x̂[r,:])."""
        f64 = torch.float64
        d, gamma, xh = delta[r].to(f64), params["weight"].to(f64), values["x_hat"][r].to(f64)
        ax = NormAxis(d * gamma, x[r].to(f64), xh, values["mean"][r].item(), values["var"][r].item(), self.eps, j)
        l = self.index
        lines, numbers = norm_paths(ax, f"a_{{{l - 1}}}[{r},{j}]", "j",
                                    f"row {r} of the input x = a{l - 1} over its n features")
        n, s = d.numel(), numbers["sigma"]
        sum_g, sum_gx = ax.g.sum().item(), (ax.g * xh).sum().item()
        lines.insert(1, dxhat_line(f"∂L/∂x̂ = δ ⊙ γ along row {r}", l, r, j, d[j].item(), gamma[j].item()))
        lines.append((f"The compact form gives the same number (sums over the {n} features of row {r}: "
                      f"Σg = {sum_g:.4g}, Σ g ⊙ x̂ = {sum_gx:.4g})",
                      aligned(_d("L", f"a_{{{l - 1}}}[{r},{j}]"),
                              r"\frac{1}{n\sigma}\Big(n\,g - \sum_j g - \hat x \sum_j g\hat x\Big)",
                              rf"\frac{{1}}{{{n}\cdot{tex_number(s)}}}\Big({n}\cdot{tex_number(ax.g[j].item())} - "
                              rf"{tex_number(sum_g)} - {tex_number(xh[j].item())}\cdot{tex_number(sum_gx)}\Big)",
                              tex_number(numbers["compact"]))))
        numbers.update(sum_g=sum_g, sum_g_xhat=sum_gx)
        return ElementTerms(lines, numbers, numbers["compact"])

    def describe(self) -> str:
        return f"layernorm {self.units}, {self.activation.name}"
