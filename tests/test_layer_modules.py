"""engine.core.layers.modules: the linear kind's hand-written backward as an autograd.Function (gradcheck), ManualLinear
against nn.Linear (init, gradients, leading dims, training)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from engine.core.layers import Linear
from engine.core.layers.modules import ManualLinear, function_for, linear

D = torch.float64


def _inputs(seed=0, batch=4, n_in=3, n_out=2):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, n_in, generator=gen, dtype=D)
    w = torch.randn(n_out, n_in, generator=gen, dtype=D)
    b = torch.randn(n_out, generator=gen, dtype=D)
    return x, w, b


@pytest.mark.parametrize("with_bias", [True, False])
def test_gradcheck(with_bias):
    x, w, b = _inputs()
    args = (x.requires_grad_(), w.requires_grad_(), b.requires_grad_() if with_bias else None)
    assert torch.autograd.gradcheck(linear, args, eps=1e-6, atol=1e-8)


@pytest.mark.parametrize("needs", [(False, True, True), (True, False, True), (True, True, False),
                                   (False, False, True), (True, False, False)])
def test_gradcheck_with_some_inputs_frozen(needs):
    x, w, b = _inputs(seed=1)
    args = tuple(t.requires_grad_(flag) for t, flag in zip((x, w, b), needs, strict=True))
    assert torch.autograd.gradcheck(linear, args, eps=1e-6, atol=1e-8)


def test_backward_skips_gradients_nobody_needs():
    x, w, b = _inputs()
    seen = {}

    def spy_backward(ctx, delta):
        out = original(ctx, delta)
        seen["needs"] = tuple(ctx.needs_input_grad)
        seen["out"] = out
        return out

    function = function_for(Linear)
    original = function.backward
    function.backward = staticmethod(spy_backward)
    try:
        z = linear(x, w.requires_grad_(), b)
        z.sum().backward()
    finally:
        function.backward = staticmethod(original)
    assert seen["needs"] == (False, False, False, True, False)  # (layer, context, x, weight, bias)
    _, _, grad_x, grad_w, grad_b = seen["out"]
    assert grad_x is None and grad_b is None and grad_w is not None


@pytest.mark.parametrize("seed", [0, 1, 123])
@pytest.mark.parametrize(("n_in", "n_out", "bias"), [(5, 3, True), (1, 4, True), (7, 2, False)])
def test_same_init_as_nn_linear(seed, n_in, n_out, bias):
    torch.manual_seed(seed)
    ref = nn.Linear(n_in, n_out, bias=bias)
    torch.manual_seed(seed)
    mine = ManualLinear(n_in, n_out, bias=bias)
    assert torch.equal(mine.weight, ref.weight)
    if bias:
        assert torch.equal(mine.bias, ref.bias)
    else:
        assert mine.bias is None
    assert [name for name, _ in mine.named_parameters()] == [name for name, _ in ref.named_parameters()]
    assert repr(mine).endswith(f"(in_features={n_in}, out_features={n_out}, bias={bias})")


def _pair(n_in, n_out, bias=True, dtype=D):
    ref = nn.Linear(n_in, n_out, bias=bias, dtype=dtype)
    mine = ManualLinear(n_in, n_out, bias=bias, dtype=dtype)
    with torch.no_grad():
        mine.weight.copy_(ref.weight)
        if bias:
            mine.bias.copy_(ref.bias)
    return ref, mine


@pytest.mark.parametrize("bias", [True, False])
def test_gradients_equal_nn_linear(bias):
    torch.manual_seed(0)
    ref, mine = _pair(4, 3, bias)
    x = torch.randn(6, 4, dtype=D)
    target = torch.randn(6, 3, dtype=D)
    xs = [x.clone().requires_grad_(), x.clone().requires_grad_()]
    outs = [ref(xs[0]), mine(xs[1])]
    torch.testing.assert_close(outs[1], outs[0], rtol=1e-14, atol=1e-14)
    for out in outs:
        torch.tanh(out).sub(target).pow(2).mean().backward()
    torch.testing.assert_close(mine.weight.grad, ref.weight.grad, rtol=1e-13, atol=1e-15)
    torch.testing.assert_close(xs[1].grad, xs[0].grad, rtol=1e-13, atol=1e-15)
    if bias:
        torch.testing.assert_close(mine.bias.grad, ref.bias.grad, rtol=1e-13, atol=1e-15)


def test_gradients_by_formula():
    """grad_input = δ W, grad_weight = δᵀ x, grad_bias = Σ δ, with an explicit upstream δ."""
    x, w, b = _inputs(seed=2, batch=5, n_in=3, n_out=4)
    delta = torch.randn(5, 4, dtype=D, generator=torch.Generator().manual_seed(9))
    xr, wr, br = x.clone().requires_grad_(), w.clone().requires_grad_(), b.clone().requires_grad_()
    z = linear(xr, wr, br)
    torch.testing.assert_close(z, x @ w.T + b, rtol=1e-14, atol=1e-14)
    z.backward(delta)
    torch.testing.assert_close(xr.grad, delta @ w, rtol=1e-14, atol=1e-14)
    torch.testing.assert_close(wr.grad, delta.T @ x, rtol=1e-14, atol=1e-14)
    torch.testing.assert_close(br.grad, delta.sum(0), rtol=1e-14, atol=1e-14)


def test_leading_dims():
    torch.manual_seed(1)
    ref, mine = _pair(3, 2)
    x = torch.randn(2, 5, 3, dtype=D)
    xs = [x.clone().requires_grad_(), x.clone().requires_grad_()]
    outs = [ref(xs[0]), mine(xs[1])]
    assert outs[1].shape == (2, 5, 2)
    torch.testing.assert_close(outs[1], outs[0], rtol=1e-14, atol=1e-14)
    for out in outs:
        (out ** 2).sum().backward()
    torch.testing.assert_close(mine.weight.grad, ref.weight.grad, rtol=1e-13, atol=1e-14)
    torch.testing.assert_close(mine.bias.grad, ref.bias.grad, rtol=1e-13, atol=1e-14)
    torch.testing.assert_close(xs[1].grad, xs[0].grad, rtol=1e-13, atol=1e-14)
    # a single sample without a batch dimension, as nn.Linear accepts
    v = torch.randn(3, dtype=D)
    assert mine(v).shape == (2,)
    torch.testing.assert_close(mine(v), ref(v))


def test_gradcheck_through_the_module_with_leading_dims():
    torch.manual_seed(2)
    mine = ManualLinear(3, 2, dtype=D)
    x = torch.randn(2, 2, 3, dtype=D, requires_grad=True)
    w = mine.weight.detach().clone().requires_grad_()
    b = mine.bias.detach().clone().requires_grad_()

    def run(inp, weight, bias):
        return torch.func.functional_call(mine, {"weight": weight, "bias": bias}, (inp,))

    assert torch.autograd.gradcheck(run, (x, w, b), eps=1e-6, atol=1e-8)


def test_training_matches_nn_linear():
    """A tiny regression, 2 → 8 → 1 with tanh, trained with SGD: the same loss at every step."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(32, 2, generator=gen, dtype=D)
    y = torch.sin(x[:, :1]) + 0.5 * x[:, 1:]
    losses = {}
    for name, cls in (("ref", nn.Linear), ("mine", ManualLinear)):
        torch.manual_seed(3)
        model = nn.Sequential(cls(2, 8, dtype=D), nn.Tanh(), cls(8, 1, dtype=D))
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        trajectory = []
        for _ in range(25):
            opt.zero_grad()
            loss = nn.functional.mse_loss(model(x), y)
            loss.backward()
            opt.step()
            trajectory.append(loss.item())
        losses[name] = trajectory
    assert losses["mine"][-1] < 0.5 * losses["mine"][0]  # it learns
    assert losses["mine"] == pytest.approx(losses["ref"], rel=1e-10, abs=1e-14)
