"""Planes through parameter space, θ(α, β) = c + α d₁ + β d₂ with c, d₁, d₂ of shape (P,), and the projection
of a run's weights onto one.

- endpoints: c = the shared initial weights θ₀, d₁, d₂ = the Gram–Schmidt orthonormal basis of
  (θ_A − θ₀, θ_B − θ₀); exact through θ₀, θ_A and θ_B, and α, β are distances in parameter space.
- pca: d₁, d₂ = the first two right singular vectors of the trajectory matrix M (all runs' points as rows,
  (n, P)) centred on θ₀ or on the rows' mean; explained variance s_i² / Σ_j s_j².
- random: Li et al. 2018, "Visualizing the loss landscape of neural nets": Gaussian directions, each filter
  (a row of W, shape (out, in): one unit's incoming weights) rescaled to the norm of the same row of the
  centre's weights; biases get 0 (their `ignore='biasbn'`), c = the first run's final weights.
Everything here is float64: the projection error of a point in the plane is then 0 to rounding.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.landscape import LandscapeError
from engine.landscape.trajectory import Trajectory

PLANES = ("endpoints", "pca", "random")
CENTERS = ("init", "mean")


@dataclass
class Plane:
    kind: str  # one of PLANES
    center: torch.Tensor  # c, (P,) float64
    d1: torch.Tensor  # (P,) float64
    d2: torch.Tensor  # (P,) float64
    center_name: str  # what c is, in words
    explained_variance: list[float] | None = None  # pca: the two components' shares of Σ s²

    def at(self, alpha: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        """θ(α, β) = c + α d₁ + β d₂ for n pairs: (n,) and (n,) → (n, P) float64."""
        a, b = alpha.double()[:, None], beta.double()[:, None]
        return self.center + a * self.d1 + b * self.d2

    def project(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Least-squares (α, β) of each row of points (n, P), and each row's distance from the plane.
        (α, β) = G⁻¹ D (θ − c) with D = [d₁; d₂] (2, P) and G = D Dᵀ (the identity for orthonormal d's)."""
        d = torch.stack([self.d1, self.d2])
        rel = points.double() - self.center
        ab = torch.linalg.solve(d @ d.T, d @ rel.T)  # (2, n)
        off = rel - ab.T @ d
        return ab[0], ab[1], off.norm(dim=1)


def shared_init(trajs: list[Trajectory]) -> torch.Tensor | None:
    """θ₀ if every run starts from the same weights (bitwise), else None."""
    first = trajs[0].points[0]
    return first.double() if all(torch.equal(t.points[0], first) for t in trajs[1:]) else None


def endpoints_plane(trajs: list[Trajectory]) -> Plane:
    if len(trajs) != 2:
        raise LandscapeError(f"the endpoints plane goes through two runs' final weights; got {len(trajs)} runs: "
                             "use --plane pca for more")
    theta0 = shared_init(trajs)
    if theta0 is None:
        raise LandscapeError(f"runs {trajs[0].run_id} and {trajs[1].run_id} start from different weights (seeds "
                             f"{trajs[0].cfg.seed} and {trajs[1].cfg.seed}, inits {trajs[0].cfg.init} and "
                             f"{trajs[1].cfg.init}); the endpoints plane needs a shared start: use --plane pca")
    u = trajs[0].points[-1].double() - theta0
    v = trajs[1].points[-1].double() - theta0
    if u.norm() == 0 or v.norm() == 0:
        raise LandscapeError("a run ended where it started; the endpoints plane needs both runs to have moved")
    e1 = u / u.norm()
    w = v - (v @ e1) * e1  # v's part orthogonal to u
    if w.norm() <= 1e-9 * v.norm():
        raise LandscapeError(f"runs {trajs[0].run_id} and {trajs[1].run_id} end on one line through their start "
                             "(the same run twice?); there is no plane through them: use --plane pca or random")
    return Plane("endpoints", theta0, e1, w / w.norm(), "the shared initial weights")


def pca_plane(trajs: list[Trajectory], center: str = "init") -> Plane:
    """d₁, d₂ = Vᵀ's first two rows of the SVD M − c = U S Vᵀ, M (n, P) = every run's points."""
    if center not in CENTERS:
        raise LandscapeError(f"unknown centre {center!r}; use one of {', '.join(CENTERS)}")
    m = torch.cat([t.points for t in trajs]).double()
    if center == "init":
        c = shared_init(trajs)
        if c is None:
            raise LandscapeError("the runs start from different weights; centre the PCA plane on the mean instead")
        name = "the shared initial weights"
    else:
        c, name = m.mean(dim=0), "the mean of every path's points"
    _, s, vh = torch.linalg.svd(m - c, full_matrices=False)
    if len(s) < 2 or s[1] <= 1e-12 * s[0]:
        raise LandscapeError("the paths span fewer than two directions around the centre; there is no PCA plane")
    d1, d2 = vh[0], vh[1]
    end = trajs[0].points[-1].double() - c  # sign: the first run ends at α ≥ 0, β ≥ 0 (SVD signs are arbitrary)
    d1, d2 = (d1 if end @ d1 >= 0 else -d1), (d2 if end @ d2 >= 0 else -d2)
    share = (s[:2] ** 2 / (s ** 2).sum()).tolist()
    return Plane("pca", c, d1, d2, name, share)


def filter_normalized(direction: torch.Tensor, theta: torch.Tensor, layout) -> torch.Tensor:
    """Per parameter tensor of the layout: a weight (out, in) gets each row d_r ← d_r · ‖θ_r‖ / ‖d_r‖;
    a bias (1-D) gets 0. direction, theta: (P,) flat; returns a new (P,) float64 vector."""
    out, at = torch.zeros_like(theta, dtype=torch.float64), 0
    for _, shape in layout:
        n = shape.numel()
        if len(shape) >= 2:
            d = direction[at:at + n].double().reshape(shape[0], -1)
            t = theta[at:at + n].double().reshape(shape[0], -1)
            scale = t.norm(dim=1, keepdim=True) / d.norm(dim=1, keepdim=True).clamp_min(1e-300)
            out[at:at + n] = (d * scale).reshape(-1)
        at += n
    return out


def random_plane(trajs: list[Trajectory], layout, seed: int = 0) -> Plane:
    """Two filter-normalised Gaussian directions (one generator seeded by `seed`) around the first run's
    final weights."""
    c = trajs[0].points[-1].double()
    gen = torch.Generator().manual_seed(seed)
    d1, d2 = (filter_normalized(torch.randn(len(c), generator=gen, dtype=torch.float64), c, layout)
              for _ in range(2))
    return Plane("random", c, d1, d2, f"run {trajs[0].run_id}'s final weights")


def make_plane(kind: str, trajs: list[Trajectory], layout, *, center: str | None = None, seed: int = 0) -> Plane:
    """The plane of `kind`; center (pca): 'init' when the runs share their start, else 'mean' by default."""
    if kind == "endpoints":
        return endpoints_plane(trajs)
    if kind == "pca":
        return pca_plane(trajs, center or ("init" if shared_init(trajs) is not None else "mean"))
    if kind == "random":
        return random_plane(trajs, layout, seed)
    raise LandscapeError(f"unknown plane {kind!r}; use one of {', '.join(PLANES)}")
