"""Guided lessons from the worked examples: a few steps each (text, the live Inspector or Optimizers state, one
predict-then-reveal question), addressed by ?lesson=KEY&step=N.

Inspector lessons ask quiz Questions on a preset's trace (engine.inspector.presets); the optimizer step and the
gradient-descent lesson ask numbers computed by engine.inspector.steps and engine.lessons.surfaces, so every
answer is the number the Inspector's Step tab or the Optimizers page shows for the same settings.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from engine.inspector.equations import Equation, tex_number
from engine.inspector.presets import preset
from engine.inspector.spec import NetworkSpec
from engine.inspector.steps import run_steps
from engine.inspector.trace import Trace, trace
from engine.lessons import surfaces as S
from engine.teach.quiz import ATOL_SHARE, Prompt, Question, make_prompt

SGD_LR = 0.1  # η of the one SGD step (the Inspector's Step tab default)
DESCENT = (-2.0, 0.05)  # θ₀, η of the gradient-descent lesson (the Optimizers page's defaults)
VIEWS = ("forward", "backward", "step", "descent")  # what the page shows beside a step's text


@dataclass(frozen=True)
class LessonStep:
    title: str
    text: str  # markdown; LaTeX between $…$
    view: str  # one of VIEWS
    question: Question | None = None  # asked on the lesson network's trace, or …
    custom: str | None = None  # … one of CUSTOM (a number the trace does not hold)


@dataclass(frozen=True)
class Lesson:
    key: str  # the ?lesson= value
    title: str
    preset: str | None  # the Inspector network, or None for the Optimizers lesson
    steps: tuple[LessonStep, ...]

    def spec(self) -> NetworkSpec | None:
        return preset(self.preset) if self.preset else None


def _q(quantity: str, layer: int, index: tuple[int, ...] | None) -> Question:
    return Question(quantity, layer, index)


LESSONS = {lesson.key: lesson for lesson in (
    Lesson("single-weight", "One weight, by hand", "line", (
        LessonStep("The forward pass", "One weight and one bias: $\\hat y = W x + b$ with $W = 1$, $b = 1$, $x = 2$. "
                   "The Inspector calls the output $a_1$ (the layer is linear, so $a_1 = z_1$). Predict it.",
                   "forward", _q("a", 1, (0, 0))),
        LessonStep("The loss", "The target is $y = 10$ and the loss is the squared error $L = (\\hat y - y)^2$ "
                   "(the mean over one output is that one number).", "forward", custom="loss"),
        LessonStep("The weight's gradient", "The chain rule: $\\partial L/\\partial W = \\partial L/\\partial \\hat y"
                   "\\cdot \\partial \\hat y/\\partial W = 2(\\hat y - y)\\cdot x$.", "backward",
                   _q("weight", 1, (0, 0))),
        LessonStep("The bias's gradient", "$\\partial \\hat y/\\partial b = 1$, so $\\partial L/\\partial b = "
                   "2(\\hat y - y)$: the error itself.", "backward", _q("bias", 1, (0,))),
    )),
    Lesson("two-layer-relu", "Two layers with a ReLU", "two-layer", (
        LessonStep("Through the ReLU", "3 → 2 (ReLU) → 1 on a batch of 4 rows. $a_1 = \\max(0, z_1)$: a negative "
                   "$z$ becomes 0. Row 2 of $z_1$ is in the Forward table.", "forward", _q("a", 1, (2, 0))),
        LessonStep("The output error", "The loss is the mean over the B = 4 outputs, so "
                   "$\\delta_2 = 2(a_2 - y)/4$ (the output is linear: $\\varphi' = 1$).", "backward",
                   _q("delta", 2, (3, 0))),
        LessonStep("Back through the ReLU", "$\\delta_1 = (\\delta_2 W_2) \\odot \\varphi'(z_1)$ with "
                   "$\\varphi'(z) = 1[z > 0]$: where the ReLU was off, no error gets through.", "backward",
                   _q("delta", 1, (2, 0))),
        LessonStep("The shape of a weight gradient", "$\\partial L/\\partial W_1 = \\delta_1^\\top a_0$ has "
                   "$W_1$'s shape, (out, in) like torch.nn.Linear.", "backward", _q("weight", 1, None)),
    )),
    Lesson("linear-chain", "A linear chain: what a layer receives, what a weight gets", "linear-chain", (
        LessonStep("The upstream gradient", "2 → 3 → 5 → 1, every layer linear, and $L = \\sum a_3$: each output "
                   "adds itself to the loss once.", "backward", _q("delta", 3, (0, 0))),
        LessonStep("What a weight gets", "$\\partial L/\\partial W_3 = \\delta_3^\\top a_2$: the error at the weight's "
                   "output unit times what the weight received from below.", "backward", _q("weight", 3, (0, 1))),
        LessonStep("What a layer receives", "Layer 2 receives $\\partial L/\\partial a_2 = \\delta_3 W_3$ from above; "
                   "linear, so $\\delta_2$ is that.", "backward", _q("delta", 2, (0, 3))),
        LessonStep("All the way down", "Layer 1 receives $\\delta_2 W_2 = \\delta_3 W_3 W_2$; its weights get "
                   "$\\delta_1^\\top x$.", "backward", _q("weight", 1, None)),
    )),
    Lesson("sgd-step", "One SGD step on nn.Linear(4, 2)", "single-step", (
        LessonStep("Forward", "One sample $x = [0.8, 0.4, 0.4, 0.2]$ through nn.Linear(4, 2): "
                   "$\\hat y = x W^\\top + b$.", "forward", _q("a", 1, (0, 0))),
        LessonStep("Gradient", "MSE against $y = [1, 0]$ averages 2 outputs: "
                   "$\\partial L/\\partial W = \\tfrac{2}{2}(\\hat y - y)^\\top x$.", "backward",
                   _q("weight", 1, (0, 0))),
        LessonStep("The step", f"SGD with $\\eta = {SGD_LR:g}$: $W \\leftarrow W - \\eta\\, \\partial L/\\partial W$ "
                   "(what torch.optim.SGD does).", "step", custom="sgd"),
    )),
    Lesson("descent", "Gradient descent on the regression data", None, (
        LessonStep("The slope", "Fit one weight θ to $x = y = [1, 2, 3]$: $J(\\theta) = \\frac13 \\sum_i "
                   f"(\\theta x_i - y_i)^2$. Start at $\\theta_0 = {DESCENT[0]:g}$.", "descent", custom="gd_grad"),
        LessonStep("One step", f"$\\theta_1 = \\theta_0 - \\eta J'(\\theta_0)$ with $\\eta = {DESCENT[1]:g}$.",
                   "descent", custom="gd_theta1"),
        LessonStep("How large may η be?", "$\\theta_t - 1 = (1 - \\eta J'')^t(\\theta_0 - 1)$ with "
                   "$J'' = 28/3$: above which η does it diverge?", "descent", custom="gd_critical"),
    )),
)}
MAX_KEY_CHARS = 40


def find_lesson(key, step) -> tuple[Lesson, int, str | None]:
    """(lesson, step index from 0, a one-line problem or None) from a link's ?lesson=…&step=… (step from 1);
    an unknown lesson opens the first, a bad step the lesson's first, and the problem says so."""
    first = next(iter(LESSONS.values()))
    if key is None:
        return first, 0, None
    if not isinstance(key, str) or key.strip() not in LESSONS:
        shown = str(key)[:MAX_KEY_CHARS]
        return first, 0, f"there is no lesson {shown!r}; the lessons are {', '.join(LESSONS)}"
    lesson = LESSONS[key.strip()]
    if step is None:
        return lesson, 0, None
    n = len(lesson.steps)
    if not isinstance(step, str) or not re.fullmatch(r"[0-9]{1,3}", step.strip()) or not 1 <= int(step) <= n:
        return lesson, 0, f"step must be a whole number 1–{n} for this lesson, got {str(step)[:MAX_KEY_CHARS]!r}"
    return lesson, int(step) - 1, None


def step_prompt(lesson: Lesson, k: int, t: Trace | None = None) -> Prompt:
    """The question of step k (from 0), on the lesson network's trace `t` (computed when not given)."""
    step = lesson.steps[k]
    if step.question is not None:
        return make_prompt(t or trace(lesson.spec()), step.question)
    return CUSTOM[step.custom](lesson, t)


def _loss_prompt(lesson: Lesson, t: Trace | None) -> Prompt:
    """L = (ŷ − y)² for the single weight (one output: the mean is that number)."""
    t = t or trace(lesson.spec())
    a, y = t.layers[-1].a[0, 0].item(), t.y[0, 0].item()
    eq = Equation("The squared error of the one output",
                  rf"L = (\hat y - y)^2 = ({tex_number(a)} - {tex_number(y)})^2 = {tex_number(t.loss)}")
    return Prompt("What is the loss L?", t.loss, ATOL_SHARE * abs(t.loss), [eq], [])


def _sgd_prompt(lesson: Lesson, t: Trace | None) -> Prompt:
    """ΔW_1[0,0] = −η ∂L/∂W_1[0,0] after one SGD step (engine.inspector.steps, the Step tab's numbers)."""
    t = t or trace(lesson.spec())
    w, g = t.layers[0].weight[0, 0].item(), t.layers[0].grads["weight"].manual[0, 0].item()
    step = run_steps(lesson.spec(), "sgd", SGD_LR, 1)
    dw, new = step.delta_w[0], step.weights[0][0, 0].item()
    eq = Equation(f"SGD moves W against its gradient, η = {SGD_LR:g}",
                  rf"W_1[0,0] \leftarrow {tex_number(w)} - {SGD_LR:g}\cdot{tex_number(g)} = {tex_number(new)},\quad "
                  rf"\Delta W_1[0,0] = {tex_number(dw[0, 0].item())}")
    return Prompt("By how much does W₁[0,0] change in this step (new − old)?", dw[0, 0].item(),
                  ATOL_SHARE * dw.abs().max().item(), [eq],
                  [("sign", "a step goes against the gradient: W − η·∂L/∂W", -dw[0, 0].item())])


def _gd_grad_prompt(lesson: Lesson, t: Trace | None) -> Prompt:
    theta = DESCENT[0]
    terms = " + ".join(rf"2\cdot{x:g}({tex_number(theta)}\cdot{x:g} - {y:g})" for x, y in zip(S.X_1D, S.Y_1D,
                                                                                             strict=True))
    grad = S.cost_1d_grad(theta)
    eq = Equation("The mean over the 3 points of each point's 2x(θx − y)",
                  rf"J'({tex_number(theta)}) = \frac13\big({terms}\big) = {tex_number(grad)}")
    n = len(S.X_1D)
    return Prompt(f"What is J′(θ₀) at θ₀ = {theta:g}?", grad, ATOL_SHARE * abs(grad), [eq],
                  [("mean", f"J is the mean over {n} points, so J′ carries a 1/{n}", grad * n),
                   ("sign", "J′ = mean of 2x(θx − y), not 2x(y − θx)", -grad)])


def _gd_theta1_prompt(lesson: Lesson, t: Trace | None) -> Prompt:
    theta, lr = DESCENT
    grad, new = S.cost_1d_grad(theta), S.descend_1d(theta, lr, 1).thetas[1]
    eq = Equation("One step against the slope",
                  rf"\theta_1 = \theta_0 - \eta J'(\theta_0) = {tex_number(theta)} - {lr:g}\cdot{tex_number(grad)} "
                  rf"= {tex_number(new)}")
    return Prompt("What is θ₁ after one step?", new, ATOL_SHARE * abs(new), [eq],
                  [("sign", "a step goes against the gradient: θ − η·J′", theta + lr * grad)])


def _gd_critical_prompt(lesson: Lesson, t: Trace | None) -> Prompt:
    crit = S.critical_lr_1d()
    eq = Equation("The factor 1 − ηJ″ must stay inside (−1, 1)",
                  rf"|1 - \eta J''| < 1 \iff \eta < \frac{{2}}{{J''}} = \frac{{2}}{{28/3}} = \frac{{6}}{{28}} "
                  rf"= {tex_number(crit)}")
    return Prompt("Above which learning rate η does gradient descent diverge here?", crit, ATOL_SHARE * crit,
                  [eq], [])


CUSTOM = {"loss": _loss_prompt, "sgd": _sgd_prompt, "gd_grad": _gd_grad_prompt, "gd_theta1": _gd_theta1_prompt,
          "gd_critical": _gd_critical_prompt}
