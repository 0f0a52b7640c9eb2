"""Batch normalisation, like torch.nn.BatchNorm1d(n): per feature over the batch rows, then γ and β.

Training (x (B, n), statistics over the B rows, biased variance as torch normalises with):
  μ = (1/B) Σ_r x[r]  (n,);  σ² = (1/B) Σ_r (x[r] − μ)²  (n,);  σ = √(σ² + ε);
  x̂ = (x − μ)/σ  (B, n);  z = γ ⊙ x̂ + β  (B, n).
Backward (δ = ∂L/∂z (B, n); every row of x moves μ and σ², so the rows are coupled):
  ∂L/∂γ = Σ_r δ ⊙ x̂;  ∂L/∂β = Σ_r δ;
  ∂L/∂x̂ = δ γ;  ∂L/∂σ² = Σ_r ∂L/∂x̂ ⊙ (x − μ) · (−½)(σ² + ε)^{−3/2};
  ∂L/∂μ = −Σ_r ∂L/∂x̂ / σ  (the ∂σ²/∂μ term sums (x − μ) to 0);
  ∂L/∂x = ∂L/∂x̂ / σ + ∂L/∂σ² · 2(x − μ)/B + ∂L/∂μ / B
        = (γ / (B σ)) (B δ − Σ_r δ − x̂ ⊙ Σ_r (δ ⊙ x̂))   (the compact form, (B, n)).
Evaluation uses the running statistics instead (no coupling): ∂L/∂x = δ γ / √(running_var + ε).
Running statistics (training with update_stats): m = (1 − 0.1) m + 0.1 μ, v = (1 − 0.1) v + 0.1 · σ²·B/(B − 1)
(torch keeps the unbiased variance).
"""
from __future__ import annotations

import torch

from engine.core.layers.affine import NormLayer
from engine.core.layers.base import Context, Params
from engine.core.layers.linear import _d, _shape
from engine.core.layers.terms import ElementTerms, NormAxis, aligned, dxhat_line, norm_paths, tex_number

MOMENTUM = 0.1  # nn.BatchNorm1d's default


class BatchNorm(NormLayer):
    """z_l = γ ⊙ (a_{l-1} − μ)/σ + β over the batch."""

    type = "batchnorm"
    rowwise = False  # μ and σ² come from every row

    def initial_state(self, dtype: torch.dtype = torch.float32) -> dict:
        return {self.index: {"running_mean": torch.zeros(self.units, dtype=dtype),
                             "running_var": torch.ones(self.units, dtype=dtype)}}

    def _stats(self, ctx: Context | None) -> dict | None:
        return (ctx.state.get(self.index) if ctx is not None else None)

    def forward(self, params: Params, x: torch.Tensor, ctx: Context):
        if not ctx.training:  # evaluation: the running statistics, a fixed affine map per feature
            stats = self._stats(ctx) or self.initial_state(x.dtype)[self.index]
            mean, var = stats["running_mean"].to(x.dtype), stats["running_var"].to(x.dtype)
        else:
            mean = x.mean(dim=0)  # μ (n,)
            var = ((x - mean) ** 2).mean(dim=0)  # biased σ² (n,)
            stats = self._stats(ctx)
            if ctx.update_stats and stats is not None:
                with torch.no_grad():
                    b = x.shape[0]
                    stats["running_mean"].mul_(1 - MOMENTUM).add_(MOMENTUM * mean)
                    stats["running_var"].mul_(1 - MOMENTUM).add_(MOMENTUM * var * b / (b - 1))
        sigma = torch.sqrt(var + self.eps)  # (n,)
        x_hat = (x - mean) / sigma  # (B, n)
        return params["weight"] * x_hat + params["bias"], (x_hat, sigma, mean, var, ctx.training)

    def backward(self, params: Params, cache, delta: torch.Tensor, need_input: bool = True):
        x_hat, sigma, _, _, training = cache
        grads = {"weight": (delta * x_hat).sum(dim=0), "bias": delta.sum(dim=0)}  # (n,) each
        if not need_input:
            return grads, None
        gamma = params["weight"]
        if not training:
            return grads, delta * gamma / sigma
        b = delta.shape[0]
        # (γ/(Bσ)) (B δ − Σ_r δ − x̂ Σ_r(δ ⊙ x̂)): (n,) · ((B, n) − (n,) − (B, n) ⊙ (n,))
        grad_x = gamma / (b * sigma) * (b * delta - grads["bias"] - x_hat * grads["weight"])
        return grads, grad_x

    def torch_forward(self, params: Params, x: torch.Tensor, ctx: Context | None = None) -> torch.Tensor:
        """The defining formula in torch ops (autograd differentiates it), not F.batch_norm's fused kernel: on a
        constant column (σ² = 0) the kernel rounds x̂ to ~4e-15 instead of 0, a ReLU after it then takes the other
        side of its kink than the exact value, and autograd's ∂L/∂x disagrees with the chain rule by orders of
        magnitude (tests/test_new_layers.py, the constant-column test). Equal to nn.BatchNorm1d otherwise
        (running statistics included, tested)."""
        return self.forward(params, x, ctx or Context())[0]

    def forward_values(self, cache) -> dict[str, torch.Tensor]:
        x_hat, _, mean, var, _ = cache
        return {"mean": mean, "var": var, "x_hat": x_hat}

    def latex_forward(self, B: int) -> list[tuple[str, str]]:
        l, n = self.index, self.units
        a = f"a_{{{l - 1}}}"
        return [
            ("Batch mean and biased variance, per feature over the B rows",
             rf"\mu_{{{l}}} = \tfrac{{1}}{{{B}}}\sum_r {a}[r,:],\ "
             rf"\sigma^2_{{{l}}} = \tfrac{{1}}{{{B}}}\sum_r ({a}[r,:] - \mu_{{{l}}})^2 \quad {_shape(n)}"),
            ("Normalise, then scale by γ and shift by β (training mode: batch statistics)",
             rf"\hat x_{{{l}}} = \frac{{{a} - \mu_{{{l}}}}}{{\sqrt{{\sigma^2_{{{l}}} + \epsilon}}}},\ "
             rf"z_{{{l}}} = \gamma_{{{l}}} \odot \hat x_{{{l}}} + \beta_{{{l}}} \quad {_shape(B, n)}"),
        ]

    def latex_backward(self, B: int) -> list[tuple[str, str]]:
        l, n = self.index, self.units
        xh, s, a = rf"\hat x_{{{l}}}", rf"\sigma_{{{l}}}", f"a_{{{l - 1}}}"
        gamma, beta, var, mu = (rf"\{name}_{{{l}}}" for name in ("gamma", "beta", "sigma^2", "mu"))
        return [
            ("γ and β: the errors times x̂, and the errors, summed over the rows",
             rf"{_d('L', gamma)} = \sum_r \delta_{{{l}}} \odot {xh},\ "
             rf"{_d('L', beta)} = \sum_r \delta_{{{l}}} \quad {_shape(n)}"),
            ("Through x̂, σ² and μ (σ = √(σ² + ε)); every row moves μ and σ²",
             rf"{_d('L', var)} = -\tfrac12 \sum_r \delta_{{{l}}}\gamma_{{{l}}} \odot "
             rf"({a} - \mu_{{{l}}})\,{s}^{{-3}},\ "
             rf"{_d('L', mu)} = -\sum_r \delta_{{{l}}}\gamma_{{{l}}} / {s}"),
            ("Summed over the three paths, the compact form",
             rf"{_d('L', a)} = {self.latex_grad_input()} \quad {_shape(B, n)}"),
        ]

    def latex_grad_input(self) -> str:
        l = self.index
        return (rf"\frac{{\gamma_{{{l}}}}}{{B\sigma_{{{l}}}}}\Big(B\delta_{{{l}}} - \sum_r \delta_{{{l}}} "
                rf"- \hat x_{{{l}}} \odot \sum_r (\delta_{{{l}}} \odot \hat x_{{{l}}})\Big)")

    def element_terms(self, params: Params, x: torch.Tensor, values: Params, delta: torch.Tensor, r: int, j: int,
                      inner: torch.Tensor | None = None) -> ElementTerms:
        """∂L/∂a_{l-1}[r, j] along feature j's column (B rows): the paths through μ_j and σ²_j, then the compact
        form (γ_j/(Bσ_j)) (B δ[r,j] − Σ_r δ[:,j] − x̂[r,j] Σ_r δ[:,j] x̂[:,j]) — the same number."""
        f64 = torch.float64
        d, xh, gamma = delta[:, j].to(f64), values["x_hat"][:, j].to(f64), params["weight"][j].item()
        ax = NormAxis(d * gamma, x[:, j].to(f64), xh, values["mean"][j].item(), values["var"][j].item(), self.eps, r)
        l = self.index
        lines, numbers = norm_paths(ax, f"a_{{{l - 1}}}[{r},{j}]", "r",
                                    f"column {j} of the input x = a{l - 1} over the B rows")
        b, s = d.numel(), numbers["sigma"]
        sum_d, sum_dx = d.sum().item(), (d * xh).sum().item()
        lines.insert(1, dxhat_line(f"∂L/∂x̂ = δ ⊙ γ, column {j}", l, r, j, d[r].item(), gamma))
        lines.append(("The compact form gives the same number (sums over the B rows of column "
                      f"{j}: Σδ = {sum_d:.4g}, Σ δ ⊙ x̂ = {sum_dx:.4g})",
                      aligned(_d("L", f"a_{{{l - 1}}}[{r},{j}]"),
                              r"\frac{\gamma}{B\sigma}\Big(B\delta - \sum_r \delta - \hat x \sum_r \delta\hat x\Big)",
                              rf"\frac{{{tex_number(gamma)}}}{{{b}\cdot{tex_number(s)}}}\Big({b}\cdot"
                              rf"{tex_number(d[r].item())} - {tex_number(sum_d)} - {tex_number(xh[r].item())}\cdot"
                              rf"{tex_number(sum_dx)}\Big)",
                              tex_number(numbers["compact"]))))
        numbers.update(gamma=gamma, sum_delta=sum_d, sum_delta_xhat=sum_dx)
        return ElementTerms(lines, numbers, numbers["compact"])

    def describe(self) -> str:
        return f"batchnorm {self.units}, {self.activation.name}"
