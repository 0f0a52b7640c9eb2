"""DirectSGD (engine/train/update.py) is torch.optim.SGD(fused=True).step() without its per-step Python: the
parameters and momentum buffers must come out bit for bit the same, through schedules and load_state_dict."""
from __future__ import annotations

import pytest
import torch

from engine.train.update import DirectSGD, direct_sgd_fits, make_update


def _params(seed: int) -> list[torch.nn.Parameter]:
    g = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(7, 5, generator=g)), torch.nn.Parameter(torch.randn(7, generator=g))]


def _grads(step: int, like: list[torch.Tensor]) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(1000 + step)
    return [torch.randn(p.shape, generator=g) for p in like]


def _run(hyper: dict, direct: bool, steps: int = 6, reload_at: int | None = None):
    params = _params(0)
    opt = torch.optim.SGD(params, fused=True, **hyper)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    update = make_update(opt) if direct else opt.step
    for s in range(steps):
        for p, g in zip(params, _grads(s, params), strict=True):
            p.grad = g
        update()
        sched.step()
        if reload_at == s:  # as a checkpoint restore: new group dicts and new buffer tensors
            opt.load_state_dict(opt.state_dict())
    buffers = [opt.state[p].get("momentum_buffer") for p in params]
    return [p.detach().clone() for p in params], buffers, opt


@pytest.mark.parametrize("hyper", [
    dict(lr=0.1), dict(lr=0.1, momentum=0.9), dict(lr=0.05, momentum=0.9, nesterov=True),
    dict(lr=0.1, momentum=0.8, dampening=0.3, weight_decay=0.01), dict(lr=0.1, momentum=0.9, maximize=True)])
@pytest.mark.parametrize("reload_at", [None, 2])
def test_direct_update_is_bitwise_torch_optim_step(hyper, reload_at):
    want, want_buf, _ = _run(hyper, direct=False, reload_at=reload_at)
    got, got_buf, opt = _run(hyper, direct=True, reload_at=reload_at)
    assert isinstance(make_update(opt), DirectSGD)
    for a, b in zip(got, want, strict=True):
        assert torch.equal(a, b)
    for a, b in zip(got_buf, want_buf, strict=True):
        assert (a is None and b is None) or torch.equal(a, b)


def test_direct_update_really_skips_the_python_step(monkeypatch):
    """After the first step (which creates the momentum buffers) the kernel is called without SGD.step."""
    params = _params(1)
    opt = torch.optim.SGD(params, lr=0.1, momentum=0.9, fused=True)
    update = make_update(opt)
    for p, g in zip(params, _grads(0, params), strict=True):
        p.grad = g
    update()  # first step: SGD.step itself
    calls = []
    monkeypatch.setattr(torch.optim.SGD, "step", lambda self, closure=None: calls.append(1))
    before = [p.detach().clone() for p in params]
    update()
    assert calls == [] and not torch.equal(params[0], before[0])


def test_only_a_single_group_fused_sgd_is_called_directly():
    assert not direct_sgd_fits(torch.optim.SGD(_params(2), lr=0.1))  # not the fused kernel
    assert not direct_sgd_fits(torch.optim.Adam(_params(2), lr=0.1, fused=True))
    a, b = _params(3)
    two = torch.optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.2}], lr=0.1, fused=True)
    assert not direct_sgd_fits(two)
    assert direct_sgd_fits(torch.optim.SGD(_params(4), lr=0.1, fused=True))


def test_a_parameter_without_gradient_falls_back_to_torch():
    params = _params(5)
    opt = torch.optim.SGD(params, lr=0.1, momentum=0.9, fused=True)
    ref = [torch.nn.Parameter(p.detach().clone()) for p in params]
    ref_opt = torch.optim.SGD(ref, lr=0.1, momentum=0.9, fused=True)
    update = make_update(opt)
    for s in range(3):
        grads = _grads(s, params)
        params[0].grad, ref[0].grad = grads[0], grads[0].clone()
        params[1].grad = ref[1].grad = None  # SGD skips a parameter without a gradient
        update()
        ref_opt.step()
    assert torch.equal(params[0], ref[0]) and torch.equal(params[1], ref[1])
