"""engine.teach.lessons: every lesson loads, its answers are the worked examples' numbers (by hand, or by torch:
autograd, nn.Linear with torch.optim.SGD), and links to a lesson step are validated."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from engine.inspector.materialize import materialize
from engine.inspector.presets import preset
from engine.teach.lessons import DESCENT, LESSONS, SGD_LR, find_lesson, step_prompt
from engine.teach.quiz import grade


def _expected(key: str) -> list:
    lesson = LESSONS[key]
    return [step_prompt(lesson, k).expected for k in range(len(lesson.steps))]


@pytest.mark.parametrize("key", list(LESSONS))
def test_every_step_of_every_lesson_asks_a_question_it_can_reveal(key):
    lesson = LESSONS[key]
    assert 2 <= len(lesson.steps) <= 6
    for k, step in enumerate(lesson.steps):
        p = step_prompt(lesson, k)
        assert p.derivation and p.ask and step.text and step.title
        assert grade(p, _typed(p.expected)).correct


def _typed(v) -> str:
    return f"{v[0]}x{v[1]}" if isinstance(v, tuple) and len(v) == 2 else (f"({v[0]},)" if isinstance(v, tuple)
                                                                         else f"{v:.10g}")


def test_the_single_weight_lesson_is_the_hand_worked_example():
    # ŷ = 1·2 + 1 = 3; L = (3 − 10)² = 49; ∂L/∂W = 2(3 − 10)·2 = −28; ∂L/∂b = 2(3 − 10) = −14
    assert _expected("single-weight") == pytest.approx([3.0, 49.0, -28.0, -14.0], abs=1e-12)


def test_the_two_layer_lesson_is_autograds():
    m = materialize(preset("two-layer"))
    w1 = m.weights[0].clone().requires_grad_(True)
    z1 = F.linear(m.x, w1, m.biases[0])
    a1 = torch.relu(z1)
    z2 = F.linear(a1, m.weights[1], m.biases[1])
    for v in (z1, a1, z2):
        v.retain_grad()
    F.mse_loss(z2, m.y).backward()
    got = _expected("two-layer-relu")
    assert got[0] == a1[2, 0].item() == 0.0  # z₁[2,0] < 0: the ReLU is off
    assert got[1] == pytest.approx(z2.grad[3, 0].item(), rel=1e-12)
    assert got[2] == z1.grad[2, 0].item() == 0.0
    assert got[3] == tuple(w1.grad.shape) == (2, 3)
    p = step_prompt(LESSONS["two-layer-relu"], 2)  # forgetting φ′ there gives ∂L/∂a₁[2,0] ≠ 0
    assert a1.grad[2, 0].item() != 0
    assert grade(p, f"{a1.grad[2, 0].item():.8g}").mistake == "slope"
    assert grade(step_prompt(LESSONS["two-layer-relu"], 1), f"{4 * z2.grad[3, 0].item():.8g}").mistake == "mean"


def test_the_linear_chain_lesson_passes_the_upstream_one_down():
    m = materialize(preset("linear-chain"))
    w1, w2, w3 = m.weights
    a1 = F.linear(m.x, w1, m.biases[0])
    a2 = F.linear(a1, w2, m.biases[1])
    got = _expected("linear-chain")
    assert got[0] == 1.0  # L = Σ a₃: ∂L/∂a₃ = 1, linear: δ₃ = 1
    assert got[1] == pytest.approx(a2[0, 1].item(), rel=1e-12)  # ∂L/∂W₃ = δ₃ᵀ a₂ = a₂
    assert got[2] == pytest.approx(w3[0, 3].item(), rel=1e-12)  # δ₂ = δ₃ W₃ = W₃
    assert got[3] == (3, 2)


def test_the_sgd_lesson_is_torch_optim_sgd_on_nn_linear():
    m = materialize(preset("single-step"))
    layer = torch.nn.Linear(4, 2).double()
    with torch.no_grad():
        layer.weight.copy_(m.weights[0])
        layer.bias.copy_(m.biases[0])
    before = layer.weight.detach().clone()
    opt = torch.optim.SGD(layer.parameters(), lr=SGD_LR)
    opt.zero_grad()
    out = layer(m.x)
    F.mse_loss(out, m.y).backward()
    grad = layer.weight.grad[0, 0].item()
    opt.step()
    got = _expected("sgd-step")
    assert got[0] == pytest.approx(out[0, 0].item(), rel=1e-12)
    assert got[1] == pytest.approx(grad, rel=1e-12)
    assert got[2] == pytest.approx((layer.weight[0, 0] - before[0, 0]).item(), rel=1e-10)
    assert grade(step_prompt(LESSONS["sgd-step"], 2), f"{SGD_LR * grad:.8g}").mistake == "sign"


def test_the_descent_lesson_is_the_regression_tutorials_numbers():
    theta0, lr = DESCENT
    assert (theta0, lr) == (-2.0, 0.05)
    # J'(θ) = (28/3)(θ − 1) → J'(−2) = −28; θ₁ = −2 − 0.05·(−28) = −0.6; diverges above 2/(28/3) = 6/28
    assert _expected("descent") == pytest.approx([-28.0, -0.6, 6 / 28], rel=1e-12)
    assert grade(step_prompt(LESSONS["descent"], 0), "-84").mistake == "mean"
    assert grade(step_prompt(LESSONS["descent"], 1), "-3.4").mistake == "sign"


@pytest.mark.parametrize("key,step,want", [(None, None, ("single-weight", 0)), ("descent", "3", ("descent", 2)),
                                           (" sgd-step ", "1", ("sgd-step", 0)), ("linear-chain", None,
                                                                                  ("linear-chain", 0))])
def test_a_lesson_link_opens_that_step(key, step, want):
    lesson, k, problem = find_lesson(key, step)
    assert (lesson.key, k, problem) == (*want, None)


@pytest.mark.parametrize("key,step", [("nope", "1"), ("<script>" * 1000, "1"), ("descent", "0"), ("descent", "4"),
                                      ("descent", "1e3"), ("descent", "-1"), ("descent", "9" * 5000),
                                      ("descent", "٣")])
def test_a_bad_lesson_link_says_what_is_wrong_in_one_line(key, step):
    lesson, k, problem = find_lesson(key, step)
    assert k == 0 and problem and "\n" not in problem and len(problem) < 300
