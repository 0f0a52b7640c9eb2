"""The Optimizers page's 2-D figures: typed arrays (base64 in the JSON, not ~20 characters a number) that still
hold the surface's values and each optimizer's losses."""
from __future__ import annotations

import numpy as np
import plotly.io as pio

from engine.lessons import surfaces as S
from ui import optimizer_plots as P


def _figure(name: str, steps: int = 50):
    surface = S.SURFACES[name]
    xs, ys, z = S.grid(surface)
    trajs = S.run_all(surface, dict(surface.lrs), surface.start, steps)
    return P.contour_figure(surface, xs.tolist(), ys.tolist(), z.tolist(), trajs, steps), xs.numpy(), ys.numpy()


def test_the_contour_holds_the_rosenbrock_values_on_a_log_scale_as_float32():
    fig, xs, ys = _figure("rosenbrock")
    gx, gy = np.meshgrid(xs, ys)  # rows are y, as the grid's docstring says
    by_hand = np.log10((1 - gx) ** 2 + 100 * (gy - gx**2) ** 2 + 1e-3)  # f = (1 − x)² + 100 (y − x²)²
    contour = fig.data[0]
    assert contour.z.dtype == np.float32 and contour.z.shape == (140, 140)
    np.testing.assert_allclose(contour.z, by_hand, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(contour.x, xs, rtol=1e-6)
    np.testing.assert_allclose(contour.y, ys, rtol=1e-6)
    for path, traj in zip(fig.data[1:], S.run_all(S.SURFACES["rosenbrock"], dict(S.SURFACES["rosenbrock"].lrs),
                                                  S.SURFACES["rosenbrock"].start, 50).values(), strict=False):
        assert list(zip(path.x.tolist(), path.y.tolist(), strict=True)) == [tuple(p) for p in traj.points]


def test_the_contour_of_the_saddle_is_f_itself():
    fig, xs, ys = _figure("saddle")
    gx, gy = np.meshgrid(xs, ys)
    np.testing.assert_allclose(fig.data[0].z, gx**2 - gy**2, rtol=1e-6, atol=1e-6)  # f = x² − y²


def test_the_contour_figure_is_sent_as_base64_typed_arrays_and_is_small():
    fig, _, _ = _figure("rosenbrock", steps=500)
    text = pio.to_json(fig, validate=False)
    assert '"bdata"' in text
    assert len(text) < 250_000  # 216 KB; the 140 × 140 grid and 6 paths of 501 points as JSON numbers: 495 KB


def test_loss_per_step_is_each_optimizers_losses_at_steps_0_to_t_on_honest_log_ticks():
    surface = S.SURFACES["quadratic"]
    trajs = S.run_all(surface, dict(surface.lrs), surface.start, 40)
    fig = P.loss_per_step_figure(trajs, 30, log=True)
    for trace, traj in zip(fig.data, trajs.values(), strict=True):
        assert trace.x is None  # Plotly's default x: 0, 1, …, len(y) − 1, i.e. the step t
        assert trace.y.dtype == np.float64
        assert trace.y.tolist() == traj.losses[:31]
    y = fig.layout.yaxis
    assert y.type == "log" and y.dtick == 1  # honest_axes read the arrays: the losses span several decades


def _arrow_traces(fig):
    return [t for t in fig.data if t.marker is not None and t.marker.symbol == "arrow"]


def test_the_1d_steps_are_one_arrow_trace_through_theta_0_to_30_not_annotations():
    descent = S.descend_1d(-2.0, 0.05, 50)
    fig = P.cost_curve_figure(descent, S.cost_1d_curve(descent))
    assert fig.layout.annotations == ()  # 30 annotations cost ~80 ms a draw in the browser; one trace does not
    (arrows,) = _arrow_traces(fig)
    # θ_t − 1 = (1 − 28η/3)^t (θ_0 − 1) and J(θ) = 14/3 (θ − 1)², written out by hand
    thetas = [1 + (1 - 28 * 0.05 / 3) ** t * (-2.0 - 1) for t in range(31)]
    np.testing.assert_allclose(arrows.x, thetas, rtol=1e-12)
    np.testing.assert_allclose(arrows.y, [14 / 3 * (th - 1) ** 2 for th in thetas], rtol=1e-6, atol=1e-12)
    assert arrows.mode == "lines+markers" and arrows.marker.angleref == "previous"  # heads face θ_(t−1)
    assert list(arrows.marker.size) == [0] + [11] * 30  # a head on θ_1 .. θ_30, none on θ_0


def test_a_short_descent_gets_an_arrow_for_each_step():
    descent = S.descend_1d(3.0, 0.2, 4)  # factor 1 − 28·0.2/3 < 0: the zig-zag regime
    (arrows,) = _arrow_traces(P.cost_curve_figure(descent, S.cost_1d_curve(descent)))
    np.testing.assert_allclose(arrows.x, [1 + (1 - 28 * 0.2 / 3) ** t * 2.0 for t in range(5)], rtol=1e-12)
    assert list(arrows.marker.size) == [0, 11, 11, 11, 11]
