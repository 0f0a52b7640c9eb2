"""engine.lessons.surfaces: 1-D descent = closed form; 2-D gradients = autograd; paths = torch.optim."""
from __future__ import annotations

import math

import pytest
import torch

from engine.core.optim import LESSON_OPTIMIZERS
from engine.lessons import surfaces as S

K = 28 / 3  # J''(θ) for x = y = [1, 2, 3], by hand: (2/3)(1 + 4 + 9)


# ---- 1-D ----

def test_cost_1d_by_hand():
    # J(0) = (1 + 4 + 9)/3, J(1) = 0, J(2) = ((2−1)² + (4−2)² + (6−3)²)/3; J'(0) = −(2·1 + 2·4 + 2·9)/3
    assert S.cost_1d(0.0) == pytest.approx(14 / 3)
    assert S.cost_1d(1.0) == 0.0
    assert S.cost_1d(2.0) == pytest.approx(14 / 3)
    assert S.cost_1d_grad(0.0) == pytest.approx(-28 / 3)
    assert S.cost_1d_grad(1.0) == 0.0


@pytest.mark.parametrize("theta", [-3.7, 0.2, 1.0, 2.5, 8.0])
def test_cost_1d_grad_equals_autograd(theta):
    t = torch.tensor(theta, dtype=torch.float64, requires_grad=True)
    x = y = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    loss = ((t * x - y) ** 2).mean()
    loss.backward()
    assert S.cost_1d(theta) == pytest.approx(loss.item(), rel=1e-14, abs=1e-15)
    assert S.cost_1d_grad(theta) == pytest.approx(t.grad.item(), rel=1e-14, abs=1e-15)


@pytest.mark.parametrize("theta0, lr", [(-2.0, 0.05), (4.0, 0.15), (0.0, 0.2), (3.0, 0.01), (1.0, 0.1)])
def test_descent_1d_equals_closed_form(theta0, lr):
    d = S.descend_1d(theta0, lr, 40)
    assert d.diverged_at is None and len(d.thetas) == 41
    for t, theta in enumerate(d.thetas):
        assert theta == pytest.approx(1 + (1 - lr * K) ** t * (theta0 - 1), rel=1e-12, abs=1e-12)
        assert d.costs[t] == pytest.approx(14 / 3 * (theta - 1) ** 2, rel=1e-12, abs=1e-20)


def test_critical_lr_and_contraction():
    assert S.curvature_1d() == pytest.approx(K)
    assert S.critical_lr_1d() == pytest.approx(6 / 28)
    assert S.contraction_1d(0.05) == pytest.approx(1 - 0.05 * K)
    assert S.contraction_1d(6 / 28) == pytest.approx(-1.0)


def test_descent_1d_diverges_above_critical_lr_and_stops_before_huge():
    d = S.descend_1d(-2.0, 0.3, 200)  # |1 − 0.3·28/3| = 1.8 per step
    assert d.diverged_at is not None
    # |θ_t − 1| = 3·1.8^t passes 1e6 first at t = ceil(log(1e6/3)/log 1.8)
    assert d.diverged_at == math.ceil(math.log(1e6 / 3) / math.log(1.8))
    assert len(d.thetas) == d.diverged_at and all(abs(t - 1) <= S.HUGE for t in d.thetas)
    assert all(math.isfinite(c) for c in d.costs)


def test_descent_1d_just_below_critical_converges():
    d = S.descend_1d(-2.0, 0.2, 200)
    assert d.diverged_at is None and abs(d.thetas[-1] - 1) < 1e-5


def test_cost_curve_spans_path_and_minimum():
    d = S.descend_1d(-2.0, 0.05, 10)
    thetas, costs = S.cost_1d_curve(d)
    assert min(thetas) < -2.0 and max(thetas) > 1.0
    assert costs == [pytest.approx(14 / 3 * (t - 1) ** 2) for t in thetas]


# ---- 2-D surfaces ----

def _autograd(surface: S.Surface, x: float, y: float) -> tuple[float, float, float]:
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    yt = torch.tensor(y, dtype=torch.float64, requires_grad=True)
    f = surface.f(xt, yt)
    f.backward()
    return f.item(), xt.grad.item(), yt.grad.item()


@pytest.mark.parametrize("name", list(S.SURFACES))
def test_surface_gradient_equals_autograd(name):
    surface = S.SURFACES[name]
    gen = torch.Generator().manual_seed(0)
    for _ in range(25):
        u = torch.rand(2, generator=gen, dtype=torch.float64)
        x = surface.x_range[0] + float(u[0]) * (surface.x_range[1] - surface.x_range[0])
        y = surface.y_range[0] + float(u[1]) * (surface.y_range[1] - surface.y_range[0])
        _, gx_ref, gy_ref = _autograd(surface, x, y)
        gx, gy = surface.grad(torch.tensor(x, dtype=torch.float64), torch.tensor(y, dtype=torch.float64))
        assert float(gx) == pytest.approx(gx_ref, rel=1e-12, abs=1e-9)
        assert float(gy) == pytest.approx(gy_ref, rel=1e-12, abs=1e-9)


def test_surfaces_by_hand():
    # Rosenbrock at (0, 0): (1 − 0)² = 1, ∇ = (−2, 0); Beale at (0, 0): 1.5² + 2.25² + 2.625²;
    # Himmelblau at (0, 0): 121 + 49; quadratic at (2, 1): ½(4 + 25); saddle at (1, 2): 1 − 4
    assert S.value(S.SURFACES["rosenbrock"], 0, 0) == 1.0
    assert S.value(S.SURFACES["beale"], 0, 0) == pytest.approx(1.5**2 + 2.25**2 + 2.625**2)
    assert S.value(S.SURFACES["himmelblau"], 0, 0) == 170.0
    assert S.value(S.SURFACES["quadratic"], 2, 1) == 14.5
    assert S.value(S.SURFACES["saddle"], 1, 2) == -3.0


@pytest.mark.parametrize("name, expected", [
    ("quadratic", [(0, 0)]), ("rosenbrock", [(1, 1)]), ("beale", [(3, 0.5)]),
    ("himmelblau", [(3, 2), (-2.805118, 3.131313), (-3.779310, -3.283186), (3.584428, -1.848127)]),
])
def test_known_minima_have_value_zero_and_zero_gradient(name, expected):
    surface = S.SURFACES[name]
    assert len(surface.minima) == len(expected)
    for (x, y), (ex, ey) in zip(surface.minima, expected, strict=True):
        assert (x, y) == (pytest.approx(ex, abs=1e-6), pytest.approx(ey, abs=1e-6))
        f, gx, gy = _autograd(surface, x, y)
        assert abs(f) < 1e-25 and abs(gx) < 1e-12 and abs(gy) < 1e-12


def test_saddle_has_no_minimum_and_a_zero_gradient_at_origin():
    surface = S.SURFACES["saddle"]
    assert surface.minima == ()
    assert [float(g) for g in surface.grad(torch.tensor(0.0), torch.tensor(0.0))] == [0.0, 0.0]


def test_grid_rows_are_y_and_columns_are_x():
    surface = S.SURFACES["saddle"]
    xs, ys, z = S.grid(surface, n=11)
    assert z.shape == (11, 11)
    assert float(z[0, -1]) == pytest.approx(float(xs[-1]) ** 2 - float(ys[0]) ** 2)
    assert float(z[3, 7]) == pytest.approx(float(xs[7]) ** 2 - float(ys[3]) ** 2)


# ---- trajectories against torch.optim driven by autograd ----

TORCH_SETTINGS = {
    "sgd": (torch.optim.SGD, {}),
    "momentum": (torch.optim.SGD, {"momentum": 0.9}),
    "nesterov": (torch.optim.SGD, {"momentum": 0.9, "nesterov": True}),
    "adagrad": (torch.optim.Adagrad, {}),
    "rmsprop": (torch.optim.RMSprop, {}),
    "adam": (torch.optim.Adam, {}),
}


def _torch_path(surface: S.Surface, name: str, lr: float, start, steps: int) -> list[tuple[float, float]]:
    """The reference: torch.optim's class with its gradient from autograd on f."""
    cls, extra = TORCH_SETTINGS[name]
    theta = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    opt = cls([theta], lr=lr, **extra)
    path = [tuple(theta.tolist())]
    for _ in range(steps):
        opt.zero_grad()
        surface.f(theta[0], theta[1]).backward()
        opt.step()
        path.append(tuple(theta.tolist()))
    return path


@pytest.mark.parametrize("surface_name", list(S.SURFACES))
@pytest.mark.parametrize("opt_name", LESSON_OPTIMIZERS)
def test_trajectory_equals_torch_optim_loop(surface_name, opt_name):
    surface = S.SURFACES[surface_name]
    lr = surface.lrs[opt_name]
    traj = S.run_optimizer(surface, opt_name, lr, surface.start, 100)
    ref = _torch_path(surface, opt_name, lr, surface.start, 100)
    assert traj.optimizer == opt_name and traj.lr == lr
    n = len(traj.points)  # shorter only if the run stopped (the saddle escapes)
    assert n == 101 or traj.stopped_at == n
    for (x, y), (rx, ry) in zip(traj.points, ref[:n], strict=True):
        assert x == pytest.approx(rx, rel=1e-9, abs=1e-12) and y == pytest.approx(ry, rel=1e-9, abs=1e-12)
    assert traj.losses == [pytest.approx(S.value(surface, *p), rel=1e-15) for p in traj.points]


def test_every_default_converges_where_there_is_a_minimum():
    for surface in S.SURFACES.values():
        if not surface.minima:
            continue
        for traj in S.run_all(surface, surface.lrs, surface.start, 200).values():
            assert traj.stopped_at is None, (surface.name, traj.optimizer, traj.reason)
            assert traj.losses[-1] < traj.losses[0], (surface.name, traj.optimizer)


def test_escape_is_stopped_and_never_stored():
    surface = S.SURFACES["quadratic"]  # SGD with η = 0.1 > 2/25 multiplies y by |1 − 2.5| = 1.5 each step
    traj = S.run_optimizer(surface, "sgd", 0.1, (1.0, 1.0), 200)
    bound = S.escape_bound(surface)
    assert bound == 50.0
    # y_t = (−1.5)^t passes 50 first at t = ceil(log 50 / log 1.5) = 10
    assert traj.stopped_at == math.ceil(math.log(50) / math.log(1.5)) == 10
    assert "left the plot" in traj.reason and len(traj.points) == traj.stopped_at
    assert all(max(abs(x), abs(y)) <= bound for x, y in traj.points)


def test_non_finite_step_is_stopped_and_never_stored():
    traj = S.run_optimizer(S.SURFACES["rosenbrock"], "sgd", 1e308, (-1.2, 1.0), 10)
    assert traj.stopped_at == 1 and "non-finite" in traj.reason
    assert traj.points == [(-1.2, 1.0)] and traj.losses == [pytest.approx(24.2)]


def test_saddle_defaults_escape_along_y():
    surface = S.SURFACES["saddle"]
    trajs = S.run_all(surface, surface.lrs, surface.start, 500)
    assert all(t.losses[-1] < 0 for t in trajs.values())  # every run slides off the saddle downhill in y
    assert trajs["sgd"].stopped_at is not None


def test_at_clamps_to_the_last_step_run():
    traj = S.run_optimizer(S.SURFACES["quadratic"], "sgd", 0.1, (1.0, 1.0), 200)
    assert traj.at(3) == (traj.points[3], traj.losses[3], 3)
    assert traj.at(10_000) == (traj.points[-1], traj.losses[-1], len(traj.points) - 1)
