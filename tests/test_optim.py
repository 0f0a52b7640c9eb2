"""engine.core.optim equals torch.optim step for step, in float64, on a tiny MLP with a real loss."""
from __future__ import annotations

import io

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core import optim
from engine.core.optim import OPTIMIZERS, SGD, UPDATE_RULES, Adagrad, Adam, AdamW, RMSprop, make_optimizer

STEPS = 50
TIGHT = dict(rtol=1e-12, atol=1e-14)
TORCH = {"sgd": torch.optim.SGD, "adagrad": torch.optim.Adagrad, "rmsprop": torch.optim.RMSprop,
         "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}


def _problem(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
    """Fixed data (x: (32, 3), y: (32, 1)) and initial weights W1 (8, 3), W2 (1, 8) in float64."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(32, 3, generator=gen, dtype=torch.float64)
    y = torch.sin(x.sum(dim=1, keepdim=True))
    w1 = 0.5 * torch.randn(8, 3, generator=gen, dtype=torch.float64)
    w2 = 0.5 * torch.randn(1, 8, generator=gen, dtype=torch.float64)
    return x, y, [w1, w2]


def _loss(params: list[torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """MSE of a 3-8-1 tanh MLP: the gradients change every step as the weights move."""
    w1, w2 = params
    return F.mse_loss(torch.tanh(x @ w1.T) @ w2.T, y)


def _leaves(tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    return [t.clone().requires_grad_(True) for t in tensors]


def _backward(opt: torch.optim.Optimizer, params: list[torch.Tensor], x, y) -> torch.Tensor:
    opt.zero_grad()
    loss = _loss(params, x, y)
    loss.backward()
    return loss


def _assert_same(mine, ref, opt_m, opt_t, step: int) -> None:
    """Parameters and every state entry agree; torch's tensor `step` equals our int `step`."""
    for pm, pt in zip(mine, ref, strict=True):
        torch.testing.assert_close(pm, pt, **TIGHT, msg=lambda m: f"params differ after step {step}: {m}")
        sm, s_t = opt_m.state[pm], opt_t.state[pt]
        assert set(sm) == set(s_t), f"state keys {set(sm)} != torch's {set(s_t)}"
        for key, value in s_t.items():
            if key == "step":
                assert sm[key] == int(value)
            else:
                torch.testing.assert_close(sm[key], value, **TIGHT)


def _lockstep(opt_m, mine, opt_t, ref, x, y, steps: int = STEPS, schedulers=()) -> None:
    """Train both optimizers side by side, comparing after every step."""
    for step in range(1, steps + 1):
        for opt, params in ((opt_m, mine), (opt_t, ref)):
            _backward(opt, params, x, y)
            opt.step()
        for sched in schedulers:
            sched.step()
        _assert_same(mine, ref, opt_m, opt_t, step)


def _compare(name: str, hyper: dict, steps: int = STEPS) -> None:
    x, y, init = _problem()
    mine, ref = _leaves(init), _leaves(init)
    opt_m = OPTIMIZERS[name](mine, **hyper)
    opt_t = TORCH[name](ref, **hyper, foreach=False)
    _lockstep(opt_m, mine, opt_t, ref, x, y, steps)
    assert not torch.equal(mine[0], init[0]), "the parameters never moved; the test proves nothing"


CASES = [
    ("sgd", dict(lr=0.1)),
    ("sgd", dict(lr=0.05, momentum=0.9)),
    ("sgd", dict(lr=0.05, momentum=0.9, dampening=0.3)),
    ("sgd", dict(lr=0.05, momentum=0.8, nesterov=True)),
    ("sgd", dict(lr=0.1, weight_decay=0.05)),
    ("sgd", dict(lr=0.05, momentum=0.9, weight_decay=0.01, maximize=True)),
    ("adagrad", dict(lr=0.1)),
    ("adagrad", dict(lr=0.1, lr_decay=0.05)),
    ("adagrad", dict(lr=0.1, initial_accumulator_value=0.3, eps=1e-6)),
    ("adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.05)),
    ("rmsprop", dict(lr=0.01)),
    ("rmsprop", dict(lr=0.01, momentum=0.9)),
    ("rmsprop", dict(lr=0.01, centered=True)),
    ("rmsprop", dict(lr=0.005, alpha=0.9, momentum=0.5, centered=True, weight_decay=0.02)),
    ("rmsprop", dict(lr=0.01, weight_decay=0.1)),
    ("adam", dict(lr=0.01)),
    ("adam", dict(lr=0.01, amsgrad=True)),
    ("adam", dict(lr=0.02, betas=(0.8, 0.99), weight_decay=0.05)),
    ("adam", dict(lr=0.02, betas=(0.5, 0.9), eps=1e-6, weight_decay=0.01, amsgrad=True)),
    ("adamw", dict(lr=0.01)),
    ("adamw", dict(lr=0.01, amsgrad=True)),
    ("adamw", dict(lr=0.02, betas=(0.8, 0.99), weight_decay=0.1)),
]


@pytest.mark.parametrize(("name", "hyper"), CASES, ids=[f"{n}-{h}" for n, h in CASES])
def test_matches_torch_every_step(name, hyper):
    _compare(name, hyper)


@settings(max_examples=15, deadline=None)
@given(lr=st.floats(1e-4, 0.2), beta1=st.floats(0.0, 0.99), beta2=st.floats(0.5, 0.9999),
       weight_decay=st.floats(0.0, 0.1), amsgrad=st.booleans(), decoupled=st.booleans())
def test_adam_and_adamw_match_torch_for_random_hyperparameters(lr, beta1, beta2, weight_decay, amsgrad,
                                                              decoupled):
    hyper = dict(lr=lr, betas=(beta1, beta2), weight_decay=weight_decay, amsgrad=amsgrad)
    _compare("adamw" if decoupled else "adam", hyper)


@settings(max_examples=15, deadline=None)
@given(lr=st.floats(1e-4, 0.1), momentum=st.floats(0.0, 0.95), dampening=st.floats(0.0, 0.9),
       nesterov=st.booleans(), weight_decay=st.floats(0.0, 0.1))
def test_sgd_matches_torch_for_random_hyperparameters(lr, momentum, dampening, nesterov, weight_decay):
    if nesterov:  # torch's rule: Nesterov needs momentum > 0 and no dampening
        momentum, dampening = max(momentum, 0.1), 0.0
    _compare("sgd", dict(lr=lr, momentum=momentum, dampening=dampening, nesterov=nesterov,
                         weight_decay=weight_decay))


@settings(max_examples=15, deadline=None)
@given(lr=st.floats(1e-4, 0.02), alpha=st.floats(0.5, 0.999), momentum=st.floats(0.0, 0.9),
       centered=st.booleans())
def test_rmsprop_matches_torch_for_random_hyperparameters(lr, alpha, momentum, centered):
    _compare("rmsprop", dict(lr=lr, alpha=alpha, momentum=momentum, centered=centered))


INVALID = [
    (SGD, dict(lr=-0.1), "learning rate|lr"),
    (SGD, dict(lr=float("nan")), "lr"),
    (SGD, dict(lr="0.1"), "lr"),
    (SGD, dict(momentum=-0.5), "momentum"),
    (SGD, dict(weight_decay=-1e-4), "weight_decay"),
    (SGD, dict(nesterov=True), "Nesterov"),
    (SGD, dict(momentum=0.9, dampening=0.1, nesterov=True), "Nesterov"),
    (Adagrad, dict(lr_decay=-1), "lr_decay"),
    (Adagrad, dict(initial_accumulator_value=-1), "initial_accumulator_value"),
    (Adagrad, dict(eps=-1e-10), "eps"),
    (RMSprop, dict(alpha=-0.9), "alpha"),
    (RMSprop, dict(eps=-1.0), "eps"),
    (RMSprop, dict(momentum=-0.1), "momentum"),
    (Adam, dict(betas=(1.0, 0.999)), "beta parameter at index 0"),
    (Adam, dict(betas=(0.9, -0.1)), "beta parameter at index 1"),
    (Adam, dict(betas=(0.9,)), "pair"),
    (Adam, dict(eps=-1e-8), "eps"),
    (AdamW, dict(weight_decay=-0.01), "weight_decay"),
    (AdamW, dict(lr=-1e-3), "lr"),
]


@pytest.mark.parametrize(("cls", "hyper", "match"), INVALID,
                         ids=[f"{c.__name__}-{h}" for c, h, _ in INVALID])
def test_invalid_arguments_raise_value_error_naming_the_argument(cls, hyper, match):
    with pytest.raises(ValueError, match=match):
        cls([torch.zeros(2, requires_grad=True)], **hyper)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_state_dict_round_trip_continues_the_same_trajectory(name):
    x, y, init = _problem(seed=1)
    hyper = dict(lr=0.01, momentum=0.9) if name in ("sgd", "rmsprop") else dict(lr=0.01)
    first = _leaves(init)
    opt = OPTIMIZERS[name](first, **hyper)
    for _ in range(10):
        _backward(opt, first, x, y)
        opt.step()
    saved = io.BytesIO()  # through torch.save / torch.load, as a checkpoint would go
    torch.save(opt.state_dict(), saved)
    saved.seek(0)
    resumed = _leaves([p.detach() for p in first])
    opt_resumed = OPTIMIZERS[name](resumed, **hyper)
    opt_resumed.load_state_dict(torch.load(saved, weights_only=True))
    _lockstep(opt_resumed, resumed, opt, first, x, y, steps=10)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_closure_is_called_and_its_loss_returned(name):
    x, y, init = _problem()
    mine, ref = _leaves(init), _leaves(init)
    opt_m, opt_t = OPTIMIZERS[name](mine, lr=0.01), TORCH[name](ref, lr=0.01)
    for step in range(1, 21):
        loss_m = opt_m.step(lambda: _backward(opt_m, mine, x, y))
        loss_t = opt_t.step(lambda: _backward(opt_t, ref, x, y))
        torch.testing.assert_close(loss_m, loss_t, **TIGHT)
        _assert_same(mine, ref, opt_m, opt_t, step)


def test_step_without_closure_returns_none_and_skips_params_without_grad():
    x, y, init = _problem()
    used, unused = _leaves(init), torch.ones(3, dtype=torch.float64, requires_grad=True)
    opt = Adam([*used, unused], lr=0.1)
    _backward(opt, used, x, y)
    assert opt.step() is None
    assert torch.equal(unused, torch.ones(3, dtype=torch.float64))
    assert unused not in opt.state and all(p in opt.state for p in used)


def test_param_groups_and_lr_scheduler_match_torch():
    x, y, init = _problem()
    mine, ref = _leaves(init), _leaves(init)
    groups = lambda ps: [{"params": [ps[0]], "lr": 0.05}, {"params": [ps[1]], "momentum": 0.5}]  # noqa: E731
    opt_m = SGD(groups(mine), lr=0.1, momentum=0.9)
    opt_t = torch.optim.SGD(groups(ref), lr=0.1, momentum=0.9, foreach=False)
    scheds = [torch.optim.lr_scheduler.StepLR(o, step_size=10, gamma=0.5) for o in (opt_m, opt_t)]
    _lockstep(opt_m, mine, opt_t, ref, x, y, schedulers=scheds)
    assert opt_m.param_groups[0]["lr"] == pytest.approx(0.05 * 0.5**5)


@pytest.mark.parametrize("name", sorted(UPDATE_RULES))
def test_make_optimizer_manual_and_torch_agree(name):
    x, y, init = _problem()
    mine, ref = _leaves(init), _leaves(init)
    opt_m = make_optimizer(name, mine, lr=0.01)
    opt_t = make_optimizer(name, ref, impl="torch", lr=0.01)
    assert type(opt_m).__module__ == optim.__name__
    assert type(opt_t).__module__.startswith("torch.optim")
    assert type(opt_m).__name__ == type(opt_t).__name__
    _lockstep(opt_m, mine, opt_t, ref, x, y)


def test_make_optimizer_sgd_variants_and_errors():
    p = [torch.zeros(2, requires_grad=True)]
    assert make_optimizer("momentum", p).defaults["momentum"] == 0.9
    assert not make_optimizer("momentum", p).defaults["nesterov"]
    nesterov = make_optimizer("Nesterov", p, impl="torch", momentum=0.5)
    assert isinstance(nesterov, torch.optim.SGD)
    assert (nesterov.defaults["momentum"], nesterov.defaults["nesterov"]) == (0.5, True)
    assert make_optimizer("sgd", p).defaults["momentum"] == 0
    with pytest.raises(ValueError, match="Unknown optimizer 'lion'"):
        make_optimizer("lion", p)
    with pytest.raises(ValueError, match="Unknown impl 'jax'"):
        make_optimizer("adam", p, impl="jax")


def test_update_rules_and_docstrings_cover_every_optimizer():
    assert set(UPDATE_RULES) == set(OPTIMIZERS) | {"momentum", "nesterov"}
    for rule in UPDATE_RULES.values():
        assert r"\theta_t" in rule and rule.count("{") == rule.count("}")
    for cls in OPTIMIZERS.values():
        assert "θ_t" in cls.__doc__ and "g_t" in cls.__doc__
