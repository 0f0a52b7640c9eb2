"""The landscape of stored runs: paths are the replayed weights, the endpoints plane is exact at its three
points, the grid loss is the loss of a plain torch network with those weights, mismatched runs are refused,
work is bounded, results are cached."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from engine.landscape import LandscapeError
from engine.landscape.batched import LossEvaluator
from engine.landscape.compute import landscape
from engine.landscape.trajectory import flat, trajectory
from engine.store.runs import RunStore
from engine.train.branch import prepare_branch
from engine.train.config import TrainConfig
from engine.train.loop import load_data, train
from engine.train.recorder import record
from engine.train.replay import replay
from tests.test_replay import stored_run

# 200 rows, 20 % validation → 160 training rows; batch 32 → 5 steps an epoch, 15 steps
BASE = TrainConfig(dataset="moons", n_samples=200, layers="8:relu,8:tanh,2:identity", epochs=3, batch_size=32,
                   device="cpu")
SGD = replace(BASE, optimizer="sgd", lr=0.1, momentum=0.9)
ADAM = replace(BASE, optimizer="adam", lr=0.01)
TORCH_ACT = {"relu": nn.ReLU(), "tanh": nn.Tanh(), "sigmoid": nn.Sigmoid(), "identity": nn.Identity(),
             "leaky_relu": nn.LeakyReLU(0.01)}
TORCH_LOSS = {"cross_entropy": nn.CrossEntropyLoss(), "mse": nn.MSELoss(), "bce": nn.BCELoss()}


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory) -> tuple[RunStore, list[str]]:
    store = RunStore(tmp_path_factory.mktemp("landscape") / "runs.sqlite")
    return store, [stored_run(store, SGD), stored_run(store, ADAM)]


def torch_net(cfg: TrainConfig, input_size: int, theta: torch.Tensor) -> nn.Sequential:
    """nn.Linear + activation modules with the weights of flat θ (W₁, b₁, W₂, b₂, … in that order)."""
    layers, fan_in, at = [], input_size, 0
    for spec in cfg.layer_specs:
        lin = nn.Linear(fan_in, spec.units)
        with torch.no_grad():
            for p in (lin.weight, lin.bias):
                p.copy_(theta[at:at + p.numel()].reshape(p.shape))
                at += p.numel()
        layers += [lin, TORCH_ACT[spec.activation]]
        fan_in = spec.units
    assert at == len(theta)
    return nn.Sequential(*layers)


def direct_loss(cfg: TrainConfig, theta: torch.Tensor) -> float:
    data = load_data(cfg)
    net = torch_net(cfg, data.input_size, theta.float())
    y = data.y_train
    target = y if cfg.loss == "cross_entropy" else (y.float()[:, None] if cfg.loss == "bce" else
                                                     nn.functional.one_hot(y, 2).float())
    with torch.no_grad():
        return TORCH_LOSS[cfg.loss](net(data.x_train), target).item()


@pytest.mark.parametrize("layers,loss", [("8:relu,8:tanh,2:identity", "cross_entropy"),
                                         ("6:leaky_relu,1:sigmoid", "bce"), ("5:sigmoid,2:identity", "mse")])
def test_batched_loss_equals_a_plain_torch_network_at_each_point(layers, loss):
    cfg = replace(BASE, layers=layers, loss=loss)
    data = load_data(cfg)
    evaluator = LossEvaluator(cfg, data, torch.device("cpu"))
    evaluator.rows, evaluator.points_per_chunk = 64, 3  # several chunks of rows and of points
    points = torch.randn(7, sum(evaluator.sizes), generator=torch.Generator().manual_seed(1))
    got = evaluator(points)
    want = [direct_loss(cfg, p) for p in points]
    np.testing.assert_allclose(got.numpy(), want, rtol=2e-6)


def test_a_path_is_the_replayed_weights_at_its_steps(two_runs):
    store, (sgd, _) = two_runs
    traj = trajectory(store, sgd, every=4)
    assert traj.steps == [0, 1, 5, 9, 13, 15]  # after the steps the loop records at (1, k+1, …) and the last
    for step, point in zip(traj.steps, traj.points, strict=True):
        assert torch.equal(point, flat(replay(store, sgd, step).model)), step


def test_a_branchs_path_is_its_parents_until_the_branch_step(two_runs, tmp_path: Path):
    store, (sgd, _) = two_runs
    b = prepare_branch(store, sgd, 7, {"optimizer": "adam", "lr": 0.01})
    branch = None
    for ev in record(train(b.cfg, data=b.data, resume=b.state), store, b.cfg, parent=(sgd, 7)):
        branch = ev.data.get("run_id", branch)
    traj = trajectory(store, branch, every=4)
    assert traj.steps == [0, 1, 5, 7, 9, 13, 15]
    for step, point in zip(traj.steps, traj.points, strict=True):
        assert torch.equal(point, flat(replay(store, branch, step).model)), step


def test_endpoints_plane_is_exact_at_its_three_points(two_runs):
    store, ids = two_runs
    result = landscape(store, ids, plane="endpoints", grid=5)
    assert result.plane["kind"] == "endpoints"
    for p in result.paths:
        for i in (0, -1):  # the shared start and each run's end lie in the plane
            assert p["projection_error"][i] < 1e-9
            assert p["surface_loss"][i] == pytest.approx(p["loss"][i], rel=1e-6)
        assert max(p["projection_error"]) > 1e-3  # …the points between need not


def test_grid_loss_equals_a_direct_evaluation_with_those_weights(two_runs):
    store, ids = two_runs
    result = landscape(store, ids, plane="endpoints", grid=5, span=1.5)
    theta0 = flat(replay(store, ids[0], 0).model).double()
    u = flat(replay(store, ids[0], 15).model).double() - theta0
    v = flat(replay(store, ids[1], 15).model).double() - theta0
    e1 = u / u.norm()  # the plane's orthonormal basis, by Gram–Schmidt
    e2 = (v - (v @ e1) * e1) / (v - (v @ e1) * e1).norm()
    for i, j in ((0, 0), (2, 3), (4, 1), (3, 4)):
        theta = theta0 + result.alpha[j] * e1 + result.beta[i] * e2
        assert result.loss[i][j] == pytest.approx(direct_loss(SGD, theta), rel=2e-6), (i, j)


def test_paths_loss_is_the_runs_training_loss_at_the_start(two_runs):
    store, ids = two_runs
    result = landscape(store, ids, plane="pca", grid=5)
    assert result.plane["kind"] == "pca" and len(result.plane["explained_variance"]) == 2
    start = flat(replay(store, ids[0], 0).model)
    for p in result.paths:
        assert p["loss"][0] == pytest.approx(direct_loss(SGD, start), rel=2e-6)


@pytest.mark.parametrize("change,what", [({"layers": "8:relu,2:identity"}, "architecture"),
                                         ({"loss": "mse"}, "loss"), ({"n_samples": 240}, "n_samples 200 vs 240")])
def test_runs_that_differ_in_network_data_or_loss_are_refused(two_runs, change, what):
    store, (sgd, _) = two_runs
    other = stored_run(store, replace(SGD, **change))
    with pytest.raises(LandscapeError, match=what):
        landscape(store, [sgd, other], grid=5)


def test_work_over_the_budget_is_refused_naming_the_largest_grid(two_runs):
    store, ids = two_runs
    with pytest.raises(LandscapeError, match=r"this allows 1e\+07: use a grid of at most \d+"):
        landscape(store, ids, grid=101, work_limit=1e7)
    with pytest.raises(LandscapeError, match="grid must be 3–101"):
        landscape(store, ids, grid=500)


def test_a_second_request_is_served_from_the_cache(two_runs):
    store, ids = two_runs
    first = landscape(store, ids, plane="random", grid=5)
    assert landscape(store, ids, plane="random", grid=5) is first
    assert landscape(store, ids, plane="random", grid=5, seed=1) is not first


def test_progress_rises_from_0_to_1_through_replay_and_the_grid(two_runs):
    store, ids = two_runs
    seen = []
    landscape(store, ids, plane="pca", grid=7, span=1.4, progress=lambda f, text: seen.append((f, text)))
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[0] == 0 and fractions[-1] == 1
    assert any("replaying run" in t and "step 15 of 15" in t for _, t in seen)
    assert any(t == "loss at 49 of 49 grid points" for _, t in seen)


def test_layernorm_dropout_and_residual_blocks_are_evaluated_as_the_trainer_evaluates(tmp_path: Path):
    """The loss at a point = the trainer's model with those weights in evaluation mode (dropout off)."""
    from engine.train.model import build_model, loss_fn, targets

    cfg = replace(BASE, layers="8:relu,ln,drop0.3,res[8:relu,8:identity]:relu,2:identity")
    data = load_data(cfg)
    evaluator = LossEvaluator(cfg, data, torch.device("cpu"))
    points = torch.randn(4, sum(evaluator.sizes), generator=torch.Generator().manual_seed(2)) * 0.5
    model = build_model(cfg, data.input_size, torch.device("cpu")).eval()
    want = []
    for p in points:
        torch.nn.utils.vector_to_parameters(p, model.parameters())
        with torch.no_grad():
            want.append(loss_fn(cfg.loss)(model(data.x_train), targets(cfg, data, data.y_train)).item())
    np.testing.assert_allclose(evaluator(points).numpy(), want, rtol=2e-6)


def test_batchnorm_networks_are_refused_in_one_line():
    cfg = replace(BASE, layers="8:relu,bn,2:identity")
    with pytest.raises(LandscapeError, match="running statistics .batchnorm."):
        LossEvaluator(cfg, load_data(cfg), torch.device("cpu"))


def test_one_network_written_two_ways_is_not_refused():
    from engine.landscape.trajectory import check_compatible

    check_compatible({"a": replace(BASE, layers="8:relu,2:identity"), "b": replace(BASE, layers="8, 2:identity")})
