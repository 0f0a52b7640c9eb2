"""Loss surfaces to watch gradient descent on: a 1-D least-squares cost and five 2-D test functions.

Every surface has its gradient written by hand next to it (checked against autograd in the tests), and
trajectories are run with the optimizers of `engine.core.optim` on a 2-element parameter tensor θ = (x, y)
whose `.grad` is set from that analytic gradient — no autograd at run time.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from engine.core.optim import make_optimizer

# ---- 1-D: J(θ) = mean((θx − y)²) for x = y = [1, 2, 3] ----

X_1D = (1.0, 2.0, 3.0)
Y_1D = (1.0, 2.0, 3.0)
HUGE = 1e6  # a step farther than this from the minimum counts as diverged: nothing sensible left to plot


def cost_1d(theta: float) -> float:
    """J(θ) = (1/n) Σ_i (θ x_i − y_i)²; with x = y = [1, 2, 3] this is (14/3)(θ − 1)², minimum 0 at θ = 1."""
    return sum((theta * x - y) ** 2 for x, y in zip(X_1D, Y_1D, strict=True)) / len(X_1D)


def cost_1d_grad(theta: float) -> float:
    """J'(θ) = (1/n) Σ_i 2 x_i (θ x_i − y_i) = (28/3)(θ − 1) for x = y = [1, 2, 3]."""
    return sum(2 * x * (theta * x - y) for x, y in zip(X_1D, Y_1D, strict=True)) / len(X_1D)


def curvature_1d() -> float:
    """J''(θ) = (2/n) Σ x_i² = 28/3: constant, because J is a parabola."""
    return 2 * sum(x * x for x in X_1D) / len(X_1D)


def critical_lr_1d() -> float:
    """θ_{t+1} − 1 = (1 − η J'')(θ_t − 1), so |1 − η J''| < 1 ⇔ η < 2/J'' = 6/28 ≈ 0.214 converges."""
    return 2.0 / curvature_1d()


def contraction_1d(lr: float) -> float:
    """The factor 1 − η J'' each step multiplies θ − 1 by: |·| < 1 converges, < 0 overshoots (zig-zags)."""
    return 1.0 - lr * curvature_1d()


@dataclass
class Descent1D:
    """Gradient descent on J: thetas[t] = θ_t and costs[t] = J(θ_t) for t = 0 .. steps actually run."""

    thetas: list[float]
    costs: list[float]
    diverged_at: int | None = None  # first step whose θ was non-finite or farther than HUGE from θ = 1


def descend_1d(theta0: float, lr: float, steps: int) -> Descent1D:
    """θ_t = θ_{t-1} − η J'(θ_{t-1}); stops (and records the step) once θ leaves the plottable range."""
    thetas, costs = [float(theta0)], [cost_1d(theta0)]
    for t in range(1, steps + 1):
        theta = thetas[-1] - lr * cost_1d_grad(thetas[-1])
        if not math.isfinite(theta) or abs(theta - 1.0) > HUGE:
            return Descent1D(thetas, costs, diverged_at=t)
        thetas.append(theta)
        costs.append(cost_1d(theta))
    return Descent1D(thetas, costs)


# ---- 2-D surfaces; each f and grad take tensors x, y of any (equal) shape, elementwise ----

Fn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
GradFn = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def _quadratic(x, y):
    return 0.5 * (x**2 + 25 * y**2)


def _quadratic_grad(x, y):
    return x, 25 * y  # Hessian diag(1, 25): condition number 25, so one lr cannot suit both axes


def _rosenbrock(x, y):
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def _rosenbrock_grad(x, y):
    r = y - x**2  # the curved valley floor is r = 0
    return -2 * (1 - x) - 400 * x * r, 200 * r


# Beale: f = Σ_i (c_i − x + x yⁱ)², c = (1.5, 2.25, 2.625), i = 1, 2, 3
_BEALE_C = (1.5, 2.25, 2.625)


def _beale(x, y):
    return sum((c - x + x * y**i) ** 2 for i, c in enumerate(_BEALE_C, start=1))


def _beale_grad(x, y):
    gx, gy = torch.zeros_like(x), torch.zeros_like(y)
    for i, c in enumerate(_BEALE_C, start=1):
        r = c - x + x * y**i
        gx = gx + 2 * r * (y**i - 1)             # ∂r/∂x = yⁱ − 1
        gy = gy + 2 * r * (i * x * y ** (i - 1))  # ∂r/∂y = i x yⁱ⁻¹
    return gx, gy


def _himmelblau(x, y):
    return (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2


def _himmelblau_grad(x, y):
    a, b = x**2 + y - 11, x + y**2 - 7
    return 4 * x * a + 2 * b, 2 * a + 4 * y * b


def _saddle(x, y):
    return x**2 - y**2


def _saddle_grad(x, y):
    return 2 * x, -2 * y


@dataclass(frozen=True)
class Surface:
    """A 2-D loss f(x, y), its hand-written gradient, and what the page needs to draw it."""

    name: str
    label: str
    f: Fn
    grad: GradFn
    latex: str
    x_range: tuple[float, float]
    y_range: tuple[float, float]
    start: tuple[float, float]  # default start point
    lrs: dict[str, float]  # default learning rate per optimizer (keys of LESSON_OPTIMIZERS)
    minima: tuple[tuple[float, float], ...] = ()  # global minima, f = 0 there
    log_levels: bool = False  # contour levels on log10(f): the range spans many decades
    note: str = ""
    hyper: dict[str, dict] = field(default_factory=dict)  # extra optimizer settings beyond lr



SURFACES: dict[str, Surface] = {s.name: s for s in (
    Surface("quadratic", "Ill-conditioned quadratic", _quadratic, _quadratic_grad,
            r"f(x,y)=\tfrac12\,(x^2+25\,y^2)", (-5.0, 5.0), (-2.0, 2.0), (-4.5, 1.5),
            dict(sgd=0.07, momentum=0.01, nesterov=0.01, adagrad=1.0, rmsprop=0.05, adam=0.2),
            minima=((0.0, 0.0),),
            note="Curvature is 25× larger along y than x: a learning rate that is safe for y crawls along x."),
    Surface("rosenbrock", "Rosenbrock", _rosenbrock, _rosenbrock_grad,
            r"f(x,y)=(1-x)^2+100\,(y-x^2)^2", (-2.0, 2.0), (-1.0, 3.0), (-1.2, 1.0),
            dict(sgd=1.5e-3, momentum=4e-4, nesterov=4e-4, adagrad=1.0, rmsprop=0.01, adam=0.1),
            minima=((1.0, 1.0),), log_levels=True,
            note="Finding the curved valley is easy; following it to (1, 1) is slow."),
    Surface("beale", "Beale", _beale, _beale_grad,
            r"f(x,y)=\sum_{i=1}^{3}\big(c_i-x+x\,y^i\big)^2,\; c=(1.5,\,2.25,\,2.625)",
            (-4.5, 4.5), (-4.5, 4.5), (1.0, 1.4),
            dict(sgd=0.02, momentum=3e-3, nesterov=3e-3, adagrad=1.0, rmsprop=0.03, adam=0.1),
            minima=((3.0, 0.5),), log_levels=True,
            note="Flat plateaus and steep walls: gradients range over many orders of magnitude."),
    Surface("himmelblau", "Himmelblau", _himmelblau, _himmelblau_grad,
            r"f(x,y)=(x^2+y-11)^2+(x+y^2-7)^2", (-5.0, 5.0), (-5.0, 5.0), (-0.5, 0.5),
            dict(sgd=0.01, momentum=2e-3, nesterov=2e-3, adagrad=0.5, rmsprop=0.03, adam=0.1),
            minima=((3.0, 2.0), (-2.805118086952745, 3.131312518250573),
                    (-3.779310253377747, -3.283185991286170), (3.584428340330492, -1.848126526964404)),
            log_levels=True, note="Four minima, all with f = 0: where you end up depends on the start."),
    Surface("saddle", "Saddle", _saddle, _saddle_grad, r"f(x,y)=x^2-y^2", (-2.0, 2.0), (-2.0, 2.0),
            (-1.8, 0.02), dict(sgd=0.05, momentum=0.01, nesterov=0.01, adagrad=0.1, rmsprop=0.01, adam=0.02),
            note="No minimum: (0, 0) is a saddle point and f is unbounded below along y. A start just "
                 "off the ridge y = 0 lingers near the saddle, then escapes — the run is stopped when it "
                 "leaves the plotted area far behind."),
)}


def value(surface: Surface, x: float, y: float) -> float:
    """f(x, y) as a Python float (float64)."""
    return float(surface.f(torch.tensor(x, dtype=torch.float64), torch.tensor(y, dtype=torch.float64)))


def grid(surface: Surface, n: int = 140) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """xs (n,), ys (n,) over the surface's ranges and Z (n, n) with Z[i, j] = f(xs[j], ys[i]) (rows are y)."""
    xs = torch.linspace(*surface.x_range, n, dtype=torch.float64)
    ys = torch.linspace(*surface.y_range, n, dtype=torch.float64)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return xs, ys, surface.f(gx, gy)


# ---- trajectories ----

@dataclass
class Trajectory:
    """An optimizer's path: points[t] = θ_t = (x_t, y_t) and losses[t] = f(θ_t), t = 0 .. steps run."""

    optimizer: str
    lr: float
    points: list[tuple[float, float]]
    losses: list[float]
    stopped_at: int | None = None  # the step at which θ became non-finite or left the drawing far behind
    reason: str = ""  # why it stopped, in words for the page

    def at(self, step: int) -> tuple[tuple[float, float], float, int]:
        """(θ, f(θ), t) at step min(step, last step run): what the path shows when cut at `step`."""
        t = min(step, len(self.points) - 1)
        return self.points[t], self.losses[t], t


def escape_bound(surface: Surface) -> float:
    """|x| or |y| beyond 10× the drawn range counts as diverged: the path has long left the picture."""
    return 10.0 * max(abs(v) for v in (*surface.x_range, *surface.y_range))


def run_optimizer(surface: Surface, name: str, lr: float, start: tuple[float, float], steps: int,
                  impl: str = "manual") -> Trajectory:
    """`steps` updates of optimizer `name` (a key of engine.core.optim.UPDATE_RULES) on θ = (x, y), float64.

    Each step sets θ.grad = ∇f(θ) from the hand-written gradient (shape (2,)) and calls `step()`.
    impl="torch" runs torch.optim's class instead (the tests compare the two).
    """
    theta = torch.tensor(start, dtype=torch.float64)
    opt = make_optimizer(name, [theta], impl=impl, lr=lr, **surface.hyper.get(name, {}))
    bound = escape_bound(surface)
    traj = Trajectory(name, lr, [(float(start[0]), float(start[1]))], [value(surface, *start)])
    for t in range(1, steps + 1):
        gx, gy = surface.grad(theta[0], theta[1])
        theta.grad = torch.stack([gx, gy])
        opt.step()
        x, y = float(theta[0]), float(theta[1])
        loss = value(surface, x, y)
        if not (math.isfinite(x) and math.isfinite(y) and math.isfinite(loss)):
            traj.stopped_at, traj.reason = t, f"non-finite value at step {t}"
            break
        if max(abs(x), abs(y)) > bound:
            traj.stopped_at, traj.reason = t, f"left the plot (|x| or |y| > {bound:g}) at step {t}"
            break
        traj.points.append((x, y))
        traj.losses.append(loss)
    return traj


def run_all(surface: Surface, lrs: dict[str, float], start: tuple[float, float], steps: int,
            impl: str = "manual") -> dict[str, Trajectory]:
    """One trajectory per optimizer in `lrs`, all from the same start."""
    return {name: run_optimizer(surface, name, lr, start, steps, impl=impl) for name, lr in lrs.items()}


def cost_1d_curve(descent: Descent1D, n: int = 201) -> tuple[list[float], list[float]]:
    """θ values (n,) spanning the path and θ = 1 with a margin, and J at each: the parabola to draw under it."""
    lo, hi = min(*descent.thetas, 1.0), max(*descent.thetas, 1.0)
    pad = 0.15 * (hi - lo) + 0.5
    thetas = [lo - pad + (hi - lo + 2 * pad) * i / (n - 1) for i in range(n)]
    return thetas, [cost_1d(t) for t in thetas]
