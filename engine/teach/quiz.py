"""Predict, then reveal: hide one quantity of a trace, ask for it, grade the typed answer, name the mistake.

A question hides an element of a_l, δ_l = ∂L/∂z_l, ∂L/∂W_l or ∂L/∂b_l (notation of DESIGN.md), or the shape of
one of them. Questions are drawn from (network, quiz seed, question number) only, so one link gives a whole
class the same quiz. Answers are parsed strictly as text (a decimal number, or a shape like "4x3" / "(4, 3)"):
nothing a visitor types is ever evaluated.

A miss is named when the answer equals what a common mistake gives, computed from the trace:
- forgot the 1/N of the mean: the gradient times N (N = B·k for mse/bce, B for cross-entropy);
- forgot φ′: δ_l taken as ∂L/∂a_l (and ∂L/∂W_l, ∂L/∂b_l built from that);
- sign of the loss derivative: every gradient flips sign, so −(the answer);
- transposed (shapes): W_l's (in, out) instead of (out, in); a batch's (units, B) instead of (B, units);
- forgot φ (a_l only): z_l instead of a_l = φ(z_l).
"""
from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass

import torch

from engine.core.ops import LOSSES
from engine.inspector.equations import Equation
from engine.inspector.trace import LayerTrace, Trace
from engine.teach.derive import derivation

QUANTITIES = ("a", "delta", "weight", "bias")  # a_l, δ_l, ∂L/∂W_l, ∂L/∂b_l
NAMES = {"a": "a_{l}", "delta": "δ_{l}", "weight": "∂L/∂W_{l}", "bias": "∂L/∂b_{l}"}
GRADIENTS = {"delta": "z", "weight": "weight", "bias": "bias"}  # quantity → LayerTrace.grads key
SHAPE_SHARE = 0.25  # about one question in four asks for a shape
MAX_SEED = 2**31 - 1  # quiz seeds are whole numbers 0 … MAX_SEED, as the sidebar's seed
MAX_QUESTION = 100  # question numbers 1 … MAX_QUESTION
MAX_ANSWER_CHARS = 40  # a typed answer longer than this is refused unread
RTOL = 0.01  # a value answer is right within 1 % of the answer …
ATOL_SHARE = 0.001  # … or within 0.1 % of max |quantity| over the whole tensor (its scale), whichever is larger
ATOL_FLOOR = 1e-9  # … and never tighter than this: a gradient that is 0 in exact arithmetic (softmax under the sum
# loss) comes out of float64 as ±1e-16 noise, in autograd as in ours; "0" and that noise are both right
MAX_DIM = 1_000_000  # a typed shape's sides are at most this

_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?")  # ASCII digits only
# "4x3", "4 × 3", "4*3", "(4, 3)", "[4,3]", "(4,)", "4": two sides at most (every quantity here is 1-D or 2-D)
_SHAPE = re.compile(r"(?P<open>[(\[]?)\s*(?P<a>[0-9]{1,7})\s*(?:[xX×*,]\s*(?P<b>[0-9]{1,7})\s*)?(?P<comma>,?)\s*"
                    r"(?P<close>[)\]]?)")


MISTAKES = {  # key → what the learner did, as "… is what you get if you {…}"
    "mean": "forget the 1/N of the mean",
    "slope": "forget φ′",
    "sign": "flip the sign of the loss derivative",
    "transposed": "transpose it",
    "activation": "forget φ",
}


class AnswerError(ValueError):
    """A typed answer that is not a number (or not a shape): its message says what to type."""


@dataclass(frozen=True)
class Question:
    quantity: str  # one of QUANTITIES
    layer: int  # l, from 1
    index: tuple[int, ...] | None  # the hidden element ([r, i] of a_l / δ_l, [i, j] of ∂L/∂W_l, [i] of ∂L/∂b_l);
    # None: the shape is asked

    def name(self) -> str:
        """'δ_2[1,0]' or 'shape of ∂L/∂W_1' (plain text, the UI's wording)."""
        base = NAMES[self.quantity].format(l=self.layer)
        if self.index is None:
            return f"the shape of {base}"
        return f"{base}[{','.join(str(k) for k in self.index)}]"


@dataclass
class Prompt:
    """A question ready to ask: its expected answer, the tolerance, the derivation to reveal, known mistakes."""

    ask: str  # the question, plain text
    expected: float | tuple[int, ...]  # a number, or a shape
    atol: float  # absolute tolerance of a value answer (RTOL adds a relative one); 0 for shapes
    derivation: list[Equation]  # how exactly this element is computed, with the trace's numbers
    mistakes: list[tuple[str, str, float | tuple[int, ...]]]  # (MISTAKES key, why in words, the answer it gives)

    @property
    def is_shape(self) -> bool:
        return isinstance(self.expected, tuple)

    def tolerance_note(self) -> str:
        if self.is_shape:
            return "a shape is right only when every side is"
        return f"graded within {RTOL:.0%} or ±{self.atol:.3g}, 0.1% of this quantity's largest |entry|"


@dataclass
class Grade:
    correct: bool
    message: str  # one line for the learner
    mistake: str | None = None  # the recognised mistake's MISTAKES key, if any
    graded: bool = True  # False: the text was no number (or no shape), so it was not graded at all


def draw_question(t: Trace, quiz_seed: int, number: int) -> Question:
    """Question `number` (from 1) of quiz `quiz_seed` on this trace's network. The quiz is one random sequence
    that skips questions already asked (while others are left), so the same network, seed and number give the
    same question in every process (random.Random hashes a string seed with SHA-512, not with hash())."""
    _only_linear(t)
    layers = list(t.layers)
    rng = random.Random(f"backprop-lab-quiz:{quiz_seed}")
    asked: set[Question] = set()
    for _ in range(min(max(number, 1), MAX_QUESTION)):  # ≤ 100 × 20 draws: bounded whatever the link says
        for _try in range(20):
            q = _one_question(rng, layers)
            if q not in asked:
                break
        asked.add(q)
    return q


def _one_question(rng: random.Random, layers: list[LayerTrace]) -> Question:
    lt = rng.choice(layers)
    quantity = rng.choice(QUANTITIES)
    if rng.random() < SHAPE_SHARE:
        return Question(quantity, lt.index, None)
    return Question(quantity, lt.index, tuple(rng.randrange(n) for n in _tensor(lt, quantity).shape))


def _only_linear(t: Trace) -> None:
    """The derivations write z = a Wᵀ + b for the asked layer and for the one above it, and number layers by
    their place in t.layers: both hold only when every layer is a linear one (no residual block's inner layers
    shifting the numbers, no BatchNorm above a δ)."""
    other = sorted({lt.layer.type for lt in t.layers if lt.layer.type != "linear"})
    if other:
        raise ValueError(f"the quiz asks about networks of linear layers for now; this one has {', '.join(other)}")


def _tensor(lt: LayerTrace, quantity: str) -> torch.Tensor:
    """The trace's tensor a question hides: a_l (B, n_l), δ_l (B, n_l), ∂L/∂W_l (n_l, n_{l-1}), ∂L/∂b_l (n_l,)."""
    return lt.a if quantity == "a" else lt.grads[GRADIENTS[quantity]].manual


def check_question(t: Trace, q: Question) -> None:
    """ValueError unless q names a quantity, a linear layer and an element that exist in this trace."""
    if q.quantity not in QUANTITIES:
        raise ValueError(f"unknown quantity {q.quantity!r}; use one of {', '.join(QUANTITIES)}")
    _only_linear(t)
    if not 1 <= q.layer <= len(t.layers):
        raise ValueError(f"layer {q.layer} is not a linear layer of this network")
    shape = tuple(_tensor(t.layers[q.layer - 1], q.quantity).shape)
    inside = q.index is None or (len(q.index) == len(shape)
                                 and all(0 <= k < n for k, n in zip(q.index, shape, strict=True)))
    if not inside:
        raise ValueError(f"{q.name()} is outside {NAMES[q.quantity].format(l=q.layer)}'s shape {shape}")


def make_prompt(t: Trace, q: Question) -> Prompt:
    """The prompt for q on trace t: expected answer, tolerance, derivation and the mistakes' answers."""
    check_question(t, q)
    lt = t.layers[q.layer - 1]
    tensor = _tensor(lt, q.quantity)
    if q.index is None:
        return Prompt(f"What is {q.name()}? Type it like 4x3 or (4, 3).", tuple(tensor.shape), 0.0,
                      derivation(t, q.quantity, q.layer, q.index), _shape_mistakes(q, tuple(tensor.shape)))
    scale = tensor.abs().max().item() if tensor.numel() else 0.0
    return Prompt(f"What is {q.name()}? (indices count from 0, as in PyTorch)", tensor[q.index].item(),
                  max(ATOL_SHARE * scale, ATOL_FLOOR), derivation(t, q.quantity, q.layer, q.index),
                  _value_mistakes(t, q))


def _shape_mistakes(q: Question, shape: tuple[int, ...]) -> list[tuple[str, str, tuple[int, ...]]]:
    if len(shape) != 2:
        return []
    why = ("∂L/∂W_l has W_l's shape (out, in), as torch.nn.Linear stores it" if q.quantity == "weight"
           else "batches are rows, so it is (B, units)")
    return [("transposed", why, shape[::-1])]


def _value_mistakes(t: Trace, q: Question) -> list[tuple[str, str, float]]:
    """(name, the value that mistake gives) for an element; the right value is the trace's manual one."""
    lt = t.layers[q.layer - 1]
    if q.quantity == "a":
        return [("activation", f"that is z_{q.layer}; a_{q.layer} = φ(z_{q.layer})", lt.z[q.index].item())]
    right = _tensor(lt, q.quantity)[q.index].item()
    loss = LOSSES[t.spec.loss]
    found = []
    if loss.reduction != "sum":  # L = (1/N) Σ …, and every gradient carries that 1/N
        n = round(1 / loss.scale(t.x.shape[0], t.layers[-1].a.shape[1]))
        over = "outputs (B·k)" if loss.reduction == "elements" else "rows (B)"
        found.append(("mean", f"the loss is the mean over {n} {over}, so every gradient carries a 1/{n}", right * n))
    skipped = _without_own_slope(t, q)
    if skipped is not None:
        found.append(("slope", f"δ_{q.layer} = ∂L/∂a_{q.layer} ⊙ φ′(z_{q.layer}), φ′ of {lt.activation}", skipped))
    found.append(("sign", "the loss's derivative is (a − y)·…, not (y − a)·…, and every gradient follows it", -right))
    return [m for m in found if math.isfinite(m[2])]  # a saturated sigmoid's ∂L/∂a can overflow: no answer to name


def _without_own_slope(t: Trace, q: Question) -> float | None:
    """The element computed with δ_l replaced by ∂L/∂a_l (φ′ of layer l left out); None where φ′ is 1 or the
    activation is not element-wise (softmax), or the output's loss is fused with it (cross-entropy on logits)."""
    lt = t.layers[q.layer - 1]
    if lt.activation in ("identity", "softmax"):
        return None
    g = lt.grads["a"].manual  # ∂L/∂a_l (B, n_l)
    if q.quantity == "delta":
        return g[q.index].item()
    if q.quantity == "bias":
        return g[:, q.index[0]].sum().item()  # Σ_r ∂L/∂a_l[r,i]
    i, j = q.index
    return (g[:, i] * lt.input[:, j]).sum().item()  # Σ_r ∂L/∂a_l[r,i] a_{l-1}[r,j]


def parse_number(text) -> float:
    """A decimal number typed by a learner ("-28", "0.25", "1e-3", "−1,5" is refused); AnswerError otherwise."""
    clean = _clean(text).replace("−", "-")
    if not _NUMBER.fullmatch(clean):
        raise AnswerError("type a number such as -28, 0.25 or 1.5e-3")
    value = float(clean)
    if value != value or value in (float("inf"), float("-inf")):
        raise AnswerError("type a finite number such as -28, 0.25 or 1.5e-3")
    return value


def parse_shape(text) -> tuple[int, ...]:
    """A shape typed by a learner: "4x3", "4 × 3", "(4, 3)", "[4, 3]", "(4,)" or "4"; AnswerError otherwise."""
    m = _SHAPE.fullmatch(_clean(text))
    bad = AnswerError("type a shape such as 4x3 or (4, 3); a vector as (4,)")
    if not m or {m["open"], m["close"]} not in ({""}, {"(", ")"}, {"[", "]"}):
        raise bad
    if m["comma"] and m["b"] is not None:  # "(4, 3,)" is fine in Python, but not how anyone writes a shape
        raise bad
    dims = tuple(int(d) for d in (m["a"], m["b"]) if d is not None)
    if not all(1 <= d <= MAX_DIM for d in dims):
        raise AnswerError(f"each side of a shape is a whole number 1–{MAX_DIM:,}")
    return dims


def _clean(text) -> str:
    if not isinstance(text, str):
        raise AnswerError("type your answer as text")
    if len(text) > MAX_ANSWER_CHARS:
        raise AnswerError(f"the answer has {len(text):,} characters; an answer is a number or a shape (at most "
                          f"{MAX_ANSWER_CHARS})")
    return text.strip()


def grade(p: Prompt, text) -> Grade:
    """Right or wrong against p.expected (value: |x − e| ≤ atol + RTOL·|e|; shape: equal), naming a mistake
    only when the answer matches what it gives and that differs from the right answer."""
    try:
        given = parse_shape(text) if p.is_shape else parse_number(text)
    except AnswerError as err:
        return Grade(False, f"Not graded: {err}.", graded=False)
    if _matches(p, given, p.expected):
        return Grade(True, f"Right: {_show(p.expected)} ({p.tolerance_note()}).")
    for key, why, wrong in p.mistakes:
        if _matches(p, given, wrong) and not _matches(p, wrong, p.expected):
            return Grade(False, f"Not quite: {_show(given)} is what you get if you {MISTAKES[key]} — {why}.", key)
    return Grade(False, f"Not quite: {_show(given)} is not it. Try again, or reveal the derivation.")


def _matches(p: Prompt, given, target) -> bool:
    if p.is_shape:
        return given == target
    return abs(given - target) <= p.atol + RTOL * abs(target)


def _show(v) -> str:
    if isinstance(v, tuple):
        return "(" + ", ".join(str(d) for d in v) + ("," if len(v) == 1 else "") + ")"
    return f"{v + 0.0:.6g}"


def parse_quiz_ref(seed_text, number_text) -> tuple[int, int]:
    """(quiz seed, question number) from a link's ?quiz=…&q=…; ValueError with one line on anything else."""
    seed = _whole(seed_text, 0, MAX_SEED, "quiz")
    number = _whole(number_text if number_text is not None else "1", 1, MAX_QUESTION, "q")
    return seed, number


def _whole(text, low: int, high: int, what: str) -> int:
    if not isinstance(text, str) or not re.fullmatch(r"[0-9]{1,10}", text.strip()):
        raise ValueError(f"the link's {what}= must be a whole number {low}–{high:,}")
    value = int(text.strip())
    if not low <= value <= high:
        raise ValueError(f"the link's {what}= must be a whole number {low}–{high:,}, got {value:,}")
    return value
