"""Decision-boundary grids and learned-vs-true parameters equal what the snapshot's network computes."""
import pytest
import torch
from torch import nn

from engine.train import boundary
from engine.train.config import TrainConfig
from engine.train.loop import train


def _state(sizes, seed=0):
    """A snapshot like the trainer's: linears.{i}.weight (out, in), linears.{i}.bias (out,)."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for i in range(len(sizes) - 1):
        state[f"linears.{i}.weight"] = torch.randn(sizes[i + 1], sizes[i], generator=gen)
        state[f"linears.{i}.bias"] = torch.randn(sizes[i + 1], generator=gen)
    return state


def _reference(state, acts):
    """The same network built independently from nn.Linear / nn.Sequential."""
    mods = []
    for i, act in enumerate(acts):
        w = state[f"linears.{i}.weight"]
        lin = nn.Linear(w.shape[1], w.shape[0])
        with torch.no_grad():
            lin.weight.copy_(w)
            lin.bias.copy_(state[f"linears.{i}.bias"])
        mods += [lin, {"relu": nn.ReLU(), "tanh": nn.Tanh(), "sigmoid": nn.Sigmoid(), "identity": nn.Identity()}[act]]
    return nn.Sequential(*mods)


def test_layer_sizes_read_off_the_weight_shapes():
    assert boundary.layer_sizes(_state([2, 5, 4, 3])) == [2, 5, 4, 3]
    with pytest.raises(ValueError, match="no linears"):
        boundary.layer_sizes({})


def test_rebuilt_model_computes_the_same_as_an_independent_network():
    state, acts = _state([3, 6, 2]), ["tanh", "identity"]
    x = torch.randn(10, 3)
    assert torch.allclose(boundary.rebuild_model(state, acts)(x), _reference(state, acts)(x), atol=1e-6)
    with pytest.raises(ValueError, match="2 layers but 1 activations"):
        boundary.rebuild_model(state, ["relu"])


def test_grid_points_order_rows_then_columns():
    xs, ys, pts = boundary.grid_points((0.0, 1.0, 10.0, 12.0), n=3)
    assert xs.tolist() == [0.0, 0.5, 1.0] and ys.tolist() == [10.0, 11.0, 12.0]
    assert pts[1].tolist() == [0.5, 10.0] and pts[3].tolist() == [0.0, 11.0]
    with pytest.raises(ValueError, match="grid size"):
        boundary.grid_points((0, 1, 0, 1), n=1)


def test_grid_bounds_pad_the_data_range():
    x = torch.tensor([[0.0, -1.0], [2.0, 3.0]])
    assert boundary.grid_bounds(x, margin=0.1) == pytest.approx((-0.2, 2.2, -1.4, 3.4))
    with pytest.raises(ValueError, match="2-D inputs"):
        boundary.grid_bounds(torch.zeros(4, 3))


def test_softmax_probabilities_equal_softmax_of_the_network_on_the_grid():
    state, acts = _state([2, 8, 3], seed=1), ["relu", "identity"]
    g = boundary.boundary_grid(state, acts, (-1.0, 1.0, -2.0, 2.0), n=7, loss="cross_entropy")
    assert g.kind == "softmax" and g.probs.shape == (7, 7, 3)
    for i, j in [(0, 0), (2, 5), (6, 3)]:
        point = torch.tensor([[g.xs[j], g.ys[i]]])
        expected = torch.softmax(_reference(state, acts)(point), dim=1)[0]
        assert torch.allclose(g.probs[i, j], expected, atol=1e-6)
        assert g.pred[i, j] == expected.argmax()
    assert torch.allclose(g.probs.sum(-1), torch.ones(7, 7))


def test_bce_gives_one_minus_p_and_p_and_mse_the_raw_outputs():
    state = _state([2, 1], seed=2)
    g = boundary.boundary_grid(state, ["sigmoid"], (0, 1, 0, 1), n=4, loss="bce")
    p = torch.sigmoid(_reference(state, ["identity"])(torch.tensor([[g.xs[1], g.ys[2]]])))[0, 0]
    assert g.kind == "sigmoid" and g.probs[2, 1].tolist() == pytest.approx([1 - p.item(), p.item()], abs=1e-6)
    state = _state([2, 2], seed=3)
    g = boundary.boundary_grid(state, ["identity"], (0, 1, 0, 1), n=4, loss="mse")
    out = _reference(state, ["identity"])(torch.tensor([[g.xs[3], g.ys[0]]]))[0]
    assert g.kind == "scores" and torch.allclose(g.probs[0, 3], out, atol=1e-6)


def test_boundary_of_a_trained_run_equals_softmax_of_the_trainers_own_model():
    cfg = TrainConfig(dataset="moons", n_samples=120, epochs=2, batch_size=16, layers="8:relu,2:identity")
    events = list(train(cfg, snapshots=True))
    state = [e for e in events if e.kind == "epoch"][-1].data["state"]
    model = events[-1].data["model"]
    g = boundary.boundary_grid(state, ["relu", "identity"], (-2.0, 2.0, -1.5, 1.5), n=5)
    _, _, pts = boundary.grid_points((-2.0, 2.0, -1.5, 1.5), n=5)
    with torch.no_grad():
        expected = torch.softmax(model(pts), dim=1).reshape(5, 5, 2)
    assert torch.allclose(g.probs, expected, atol=1e-6)


def test_effective_linear_composes_identity_layers_and_refuses_others():
    state, acts = _state([3, 4, 2]), ["identity", "identity"]
    w, b = boundary.effective_linear(state, acts)
    x = torch.randn(5, 3, dtype=torch.float64)
    expected = _reference(state, acts).double()(x)
    assert torch.allclose(x @ w.T + b, expected, atol=1e-10)
    assert boundary.effective_linear(state, ["relu", "identity"]) is None


def test_compare_params_lists_true_learned_and_error():
    state = {"linears.0.weight": torch.tensor([[2.01, -3.39]]), "linears.0.bias": torch.tensor([4.2])}
    rows = boundary.compare_params(state, ["identity"], [2.0, -3.4], [4.2])
    assert [r["name"] for r in rows] == ["w1", "w2", "b"]
    assert rows[0]["learned"] == pytest.approx(2.01) and rows[0]["abs_error"] == pytest.approx(0.01, abs=1e-6)
    assert rows[2]["abs_error"] == pytest.approx(0.0, abs=1e-6)
    assert boundary.compare_params(state, ["relu"], [2.0, -3.4], [4.2]) is None
    assert boundary.compare_params(state, ["identity"], [2.0], [4.2]) is None  # shapes differ
