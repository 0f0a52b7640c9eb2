"""Per-unit maps are the model's forward on the grid; the ∂ℓ/∂x arrows are autograd's, point by point."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from engine.train.model import MLP
from engine.train.replay_views import input_gradients, neuron_maps


def model() -> MLP:
    """A small net with seeded weights (MLP allocates its parameters uninitialised; build_model draws them)."""
    m, gen = MLP([2, 5, 3, 2], ["tanh", "relu", "identity"]), torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.rand(p.shape, generator=gen) * 2 - 1)
    return m


def test_every_units_map_is_its_output_on_the_grid_point():
    m, n = model(), 7
    maps = neuron_maps(m, (-1.0, 2.0, -3.0, 1.0), n)
    for i in range(n):
        for j in range(n):
            point = torch.tensor([[maps.xs[j], maps.ys[i]]])
            _, zs = m(point, record=True)
            for layer, (act, z) in enumerate(zip(m.acts, zs, strict=True)):
                a = act(z)[0]
                assert torch.allclose(maps.layers[layer][:, i, j], a, atol=1e-6)
    assert maps.xs[0] == -1.0 and maps.ys[-1] == 1.0 and [t.shape[0] for t in maps.layers] == [5, 3, 2]


def test_input_gradients_equal_autograd_one_point_at_a_time():
    m = model()
    x, y = torch.randn(9, 2, generator=torch.Generator().manual_seed(1)), torch.tensor([0, 1, 1, 0, 1, 0, 0, 1, 1])
    got = input_gradients(m, "cross_entropy", x, y)
    for i in range(len(x)):
        xi = x[i:i + 1].clone().requires_grad_(True)
        F.cross_entropy(m(xi), y[i:i + 1]).backward()
        assert torch.allclose(got[i], xi.grad[0], atol=1e-6)
