"""One and many optimizer steps with chain-rule gradients equal torch.optim on autograd gradients."""
import pytest
import torch

from engine.core.optim import LESSON_OPTIMIZERS
from engine.inspector.materialize import materialize
from engine.inspector.presets import preset
from engine.inspector.steps import run_steps


def test_one_sgd_step_on_line_by_hand():
    # ∂L/∂W = −28, ∂L/∂b = −14 (presets.py); W = 1 − 0.1·(−28) = 3.8, b = 1 − 0.1·(−14) = 2.4
    # then ŷ = 3.8·2 + 2.4 = 10 = y, so the new loss is 0
    r = run_steps(preset("line"), "sgd", 0.1, 1)
    assert r.weights[0].item() == pytest.approx(3.8) and r.biases[0].item() == pytest.approx(2.4)
    assert r.delta_w[0].item() == pytest.approx(2.8) and r.delta_b[0].item() == pytest.approx(1.4)
    assert r.losses == pytest.approx([49.0, 0.0], abs=1e-12)
    assert r.spec.layers[0].weight == [[pytest.approx(3.8)]] and not r.diverged


def _torch_reference(spec, name, lr, steps, **hyper):
    """torch.optim driven by autograd on the same network: the losses and final parameters."""
    m = materialize(spec)
    ps = [t.clone().requires_grad_(True) for t in m.weights + m.biases]
    cls = {"sgd": torch.optim.SGD, "momentum": torch.optim.SGD, "nesterov": torch.optim.SGD,
           "adagrad": torch.optim.Adagrad, "rmsprop": torch.optim.RMSprop, "adam": torch.optim.Adam}[name]
    opt = cls(ps, lr=lr, **hyper)
    n = len(m.weights)

    def loss_fn():
        a = m.x
        for k in range(n):
            z = a @ ps[k].T + ps[n + k]
            a = torch.relu(z) if spec.layers[k].activation == "relu" else z
        return torch.nn.functional.mse_loss(a, m.y)

    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn()
        losses.append(loss.item())
        loss.backward()
        opt.step()
    losses.append(loss_fn().item())
    return losses, [p.detach() for p in ps]


@pytest.mark.parametrize("name,hyper", [("sgd", {}), ("momentum", {"momentum": 0.9}),
                                        ("nesterov", {"momentum": 0.9, "nesterov": True}), ("adagrad", {}),
                                        ("rmsprop", {}), ("adam", {})])
def test_five_steps_equal_torch_optim(name, hyper):
    spec = preset("two-layer")
    r = run_steps(spec, name, 0.05, 5)
    losses, params = _torch_reference(spec, name, 0.05, 5, **hyper)
    assert r.losses == pytest.approx(losses, rel=1e-10, abs=1e-12)
    for mine, ref in zip(r.weights + r.biases, params, strict=True):
        torch.testing.assert_close(mine, ref, rtol=1e-10, atol=1e-12)
    assert set(LESSON_OPTIMIZERS) >= {name}


def test_delta_is_after_minus_before():
    spec = preset("two-layer")
    before = materialize(spec)
    r = run_steps(spec, "adam", 0.01, 3)
    for w0, dw, w in zip(before.weights, r.delta_w, r.weights, strict=True):
        torch.testing.assert_close(w0 + dw, w)


def test_a_huge_learning_rate_stops_at_the_last_finite_network():
    r = run_steps(preset("line"), "sgd", 100.0, 200)
    assert r.diverged and all(torch.isfinite(w).all() for w in r.weights)
    assert len(r.losses) < 201 and r.spec.check()


@pytest.mark.parametrize("args,fragment", [(("adamx", 0.1, 1), "unknown optimizer"), (("sgd", 0.0, 1), "learning rate"),
                                           (("sgd", float("nan"), 1), "learning rate"), (("sgd", 0.1, 0), "steps")])
def test_bad_requests_say_what_to_change(args, fragment):
    with pytest.raises(ValueError, match=fragment):
        run_steps(preset("line"), *args)
