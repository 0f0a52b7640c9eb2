"""The fast finite differences (engine.core.numerical: perturbed rows evaluated from the perturbed layer on, a
move of one a_l element entering z_{l+1} as one multiply-add row) equal the plain central difference — every
parameter moved in turn and the whole network run forward by torch — and they catch a wrong gradient."""
from __future__ import annotations

import pytest
import torch

from engine.core.numerical import H, numerical_gradients
from engine.core.ops import LOSSES
from engine.inspector.materialize import materialize
from engine.inspector.spec import LayerSpec, NetworkSpec
from engine.inspector.trace import compare, trace


def plain_loss(m, loss: str, params: list[dict], x: torch.Tensor) -> float:
    """L by torch's own ops (each kind's torch_forward, each activation's torch twin, the loss's torch twin)."""
    a = x
    for layer, p in zip(m.layers, params, strict=True):
        a = layer.activation.torch(layer.torch_forward(p, a))
    return LOSSES[loss].torch(a, m.y).item()


def plain_central_differences(m, loss: str) -> tuple[list[dict], torch.Tensor]:
    """(L(θ + h e_k) − L(θ − h e_k)) / 2h for every parameter element and every element of x, one at a time."""
    grads = []
    for l, p in enumerate(m.params):
        grads.append({})
        for name, value in p.items():
            g = torch.zeros_like(value)
            for k in range(value.numel()):
                moved = []
                for sign in (1, -1):
                    params = [dict(q) for q in m.params]
                    params[l][name] = value.clone()
                    params[l][name].view(-1)[k] += sign * H
                    moved.append(plain_loss(m, loss, params, m.x))
                g.view(-1)[k] = (moved[0] - moved[1]) / (2 * H)
            grads[-1][name] = g
    gx = torch.zeros_like(m.x)
    for k in range(m.x.numel()):
        moved = []
        for sign in (1, -1):
            x = m.x.clone()
            x.view(-1)[k] += sign * H
            moved.append(plain_loss(m, loss, m.params, x))
        gx.view(-1)[k] = (moved[0] - moved[1]) / (2 * H)
    return grads, gx


def fast(m, loss: str):
    zs, acts = [], [m.x]
    for layer, p in zip(m.layers, m.params, strict=True):
        zs.append(layer.torch_forward(p, acts[-1]))
        acts.append(layer.activation.torch(zs[-1]))
    return numerical_gradients(m.layers, m.params, loss, m.x, m.y, zs, acts)


NETS = [  # every activation in a hidden layer (so its move goes on through the next layer), every loss
    ([("relu", 5), ("tanh", 4), ("identity", 3)], "cross_entropy"),
    ([("leaky_relu", 4), ("sigmoid", 3), ("identity", 2)], "mse"),
    ([("relu", 4), ("leaky_relu", 3), ("sigmoid", 1)], "bce"),
    ([("tanh", 4), ("softmax", 3)], "mse"),
    ([("identity", 3), ("tanh", 2)], "sum"),
]


@pytest.mark.parametrize("layers,loss", NETS)
def test_fast_differences_equal_the_plain_central_difference(layers, loss):
    spec = NetworkSpec(3, [LayerSpec(n, act) for act, n in layers], loss=loss, batch=3, seed=7)
    m = materialize(spec)
    got = fast(m, loss)
    want, want_x = plain_central_differences(m, loss)
    for l, p in enumerate(m.params):
        for name in p:
            ok = ~got[l][name].left_out  # a kink inside [θ − h, θ + h] is no derivative for either method
            torch.testing.assert_close(got[l][name].grad[ok], want[l][name][ok], rtol=0, atol=1e-8)
    ok = ~got[0]["input"].left_out
    torch.testing.assert_close(got[0]["input"].grad[ok], want_x[ok], rtol=0, atol=1e-8)


def mnist_spec() -> NetworkSpec:
    return NetworkSpec(784, [LayerSpec(128, "relu"), LayerSpec(64, "relu"), LayerSpec(10, "identity")],
                       loss="cross_entropy", batch=8, seed=0)


def test_the_mnist_network_gets_every_numerical_gradient_and_they_agree():
    t = trace(mnist_spec())
    assert t.numerical_note is None and t.agree
    for lt in t.layers:
        for name, g in lt.grads.items():
            assert g.numerical is not None and g.numerical.shape == g.autograd.shape, (lt.index, name)
            assert g.agree and g.numerical_max_abs_error <= g.numerical_tolerance


def test_finite_differences_alone_catch_one_wrong_weight_gradient():
    """Manual and autograd wrong alike (as a shared mistake would make them): the numerical column disagrees.
    One element of the MNIST network's ∂L/∂W_1 (100 352 of them) off by 1 % of max |g|."""
    t = trace(mnist_spec())
    g = t.layers[0].grads["weight"]
    right = g.autograd
    wrong = right.clone()
    k = (g.numerical.abs() * ~g.kink).argmax()  # a large, kink-free element
    wrong.view(-1)[k] += 0.01 * right.abs().max()
    args = (g.numerical, g.kink, "float64", t.loss)
    assert compare(right, right, *args, noise=0.0).agree
    caught = compare(wrong, wrong, *args, noise=0.0)
    assert not caught.agree and caught.numerical_max_abs_error > caught.numerical_tolerance
