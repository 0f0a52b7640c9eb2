"""The planes of engine/landscape/planes.py against their definitions: numpy's SVD for PCA, the per-filter
norms of Li et al. 2018 for random directions, and exactness of the endpoints plane at its three points."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.landscape import LandscapeError
from engine.landscape.planes import endpoints_plane, filter_normalized, pca_plane, random_plane
from engine.landscape.trajectory import Trajectory
from engine.train.config import TrainConfig

LAYOUT = [("linears.0.weight", torch.Size([5, 3])), ("linears.0.bias", torch.Size([5])),
          ("linears.1.weight", torch.Size([2, 5])), ("linears.1.bias", torch.Size([2]))]
P = 5 * 3 + 5 + 2 * 5 + 2


def path(run_id: str, start: torch.Tensor, n: int, seed: int) -> Trajectory:
    """A made-up path from `start`: a random walk of n − 1 steps (float32, like stored weights)."""
    gen = torch.Generator().manual_seed(seed)
    steps = torch.randn(n - 1, P, generator=gen) * 0.1
    points = torch.cat([start[None], start[None] + steps.cumsum(0)]).float()
    return Trajectory(run_id, TrainConfig(), list(range(n)), points)


@pytest.fixture
def runs() -> list[Trajectory]:
    start = torch.randn(P, generator=torch.Generator().manual_seed(0))
    return [path("a", start, 12, 1), path("b", start, 9, 2), path("c", start, 7, 3)]


def test_endpoints_plane_is_exact_at_the_init_and_both_finals(runs):
    plane = endpoints_plane(runs[:2])
    for point in (runs[0].points[0], runs[0].points[-1], runs[1].points[-1]):
        alpha, beta, dist = plane.project(point[None])
        assert dist.item() < 1e-12 * point.norm().item()
        back = plane.at(alpha, beta)[0]
        assert torch.allclose(back, point.double(), rtol=0, atol=1e-12)
    # orthonormal axes: α, β are distances in parameter space (the final of run a lies on the α axis)
    np.testing.assert_allclose(float(plane.d1 @ plane.d2), 0.0, atol=1e-12)
    alpha, beta, _ = plane.project(runs[0].points[-1:])
    u = (runs[0].points[-1] - runs[0].points[0]).double().numpy()
    np.testing.assert_allclose([alpha.item(), beta.item()], [np.linalg.norm(u), 0.0], atol=1e-9)


def test_endpoints_plane_refuses_three_runs_and_different_starts(runs):
    with pytest.raises(LandscapeError, match="two runs"):
        endpoints_plane(runs)
    other = path("d", torch.zeros(P), 5, 4)
    with pytest.raises(LandscapeError, match="start from different weights"):
        endpoints_plane([runs[0], other])


@pytest.mark.parametrize("center", ["init", "mean"])
def test_pca_plane_equals_numpy_svd_of_the_centred_trajectory_matrix(runs, center):
    m = np.concatenate([t.points.double().numpy() for t in runs])
    c = m[0] if center == "init" else m.mean(axis=0)
    _, s, vt = np.linalg.svd(m - c, full_matrices=False)
    plane = pca_plane(runs, center)
    np.testing.assert_allclose(plane.center.numpy(), c, atol=1e-12)
    # singular vectors are defined up to sign
    np.testing.assert_allclose(abs(float(plane.d1.numpy() @ vt[0])), 1.0, atol=1e-9)
    np.testing.assert_allclose(abs(float(plane.d2.numpy() @ vt[1])), 1.0, atol=1e-9)
    np.testing.assert_allclose(plane.explained_variance, s[:2] ** 2 / (s ** 2).sum(), rtol=1e-9)


def test_projection_onto_the_pca_plane_is_the_least_squares_fit(runs):
    plane = pca_plane(runs, "mean")
    pts = runs[2].points.double()
    alpha, beta, dist = plane.project(pts)
    d = np.stack([plane.d1.numpy(), plane.d2.numpy()])
    coef, *_ = np.linalg.lstsq(d.T, (pts - plane.center).numpy().T, rcond=None)
    np.testing.assert_allclose(np.stack([alpha.numpy(), beta.numpy()]), coef, atol=1e-9)
    resid = (pts - plane.center).numpy() - coef.T @ d
    np.testing.assert_allclose(dist.numpy(), np.linalg.norm(resid, axis=1), atol=1e-9)


def test_filter_normalisation_matches_its_definition_per_layer():
    gen = torch.Generator().manual_seed(5)
    theta, raw = torch.randn(P, generator=gen), torch.randn(P, generator=gen, dtype=torch.float64)
    d = filter_normalized(raw, theta, LAYOUT).numpy()
    at = 0
    for _, shape in LAYOUT:
        n = shape.numel()
        part, t, r = d[at:at + n], theta[at:at + n].double().numpy(), raw[at:at + n].numpy()
        if len(shape) == 1:
            assert not part.any()  # biases: zero (Li et al.'s ignore='biasbn')
        else:
            rows, t_rows, r_rows = part.reshape(shape[0], -1), t.reshape(shape[0], -1), r.reshape(shape[0], -1)
            for row, t_row, r_row in zip(rows, t_rows, r_rows, strict=True):
                np.testing.assert_allclose(np.linalg.norm(row), np.linalg.norm(t_row), rtol=1e-12)
                np.testing.assert_allclose(row / np.linalg.norm(row), r_row / np.linalg.norm(r_row), atol=1e-12)
        at += n


def test_random_plane_is_seeded_and_centred_on_the_first_runs_final_weights(runs):
    a, b, c = random_plane(runs, LAYOUT, 0), random_plane(runs, LAYOUT, 0), random_plane(runs, LAYOUT, 1)
    assert torch.equal(a.d1, b.d1) and torch.equal(a.d2, b.d2)
    assert not torch.equal(a.d1, c.d1) and not torch.equal(a.d1, a.d2)
    assert torch.equal(a.center, runs[0].points[-1].double())
