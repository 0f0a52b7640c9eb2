"""engine.teach.quiz: questions from a seed, strict parsing, grading, and the named mistakes.

Expected answers and each mistake's answer are built here independently: by hand for the single weight,
by torch autograd (with the mistake made on purpose: sum instead of mean, ∂L/∂a instead of δ, the flipped
sign) for the other networks — never read from the quiz's own numbers.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from engine.inspector.materialize import materialize
from engine.inspector.presets import preset
from engine.inspector.share import decode_spec, encode_spec
from engine.inspector.spec import LayerSpec, NetworkSpec
from engine.inspector.trace import trace
from engine.teach.quiz import (
    MAX_ANSWER_CHARS,
    AnswerError,
    Question,
    draw_question,
    grade,
    make_prompt,
    parse_number,
    parse_quiz_ref,
    parse_shape,
)
from tests.test_trace import specs

ROOT = Path(__file__).resolve().parents[1]


def _sigmoid_net() -> NetworkSpec:
    # 3 → 2 (sigmoid) → 2, mse over B = 4 rows: φ′ ≠ 1 everywhere and N = B·k = 8
    return NetworkSpec(3, [LayerSpec(2, "sigmoid"), LayerSpec(2, "identity")], loss="mse", seed=3, batch=4)


def _autograd(spec: NetworkSpec, reduction: str = "mean") -> dict:
    """torch's own forward and backward on the spec's numbers: a_l, ∂L/∂a_l, δ_l, ∂L/∂W_l, ∂L/∂b_l by layer."""
    m = materialize(spec)
    ws = [w.clone().requires_grad_(True) for w in m.weights]
    bs = [b.clone().requires_grad_(True) for b in m.biases]
    acts, zs, h = [], [], m.x
    for layer, w, b in zip(spec.layers, ws, bs, strict=True):
        z = F.linear(h, w, b)
        h = {"identity": lambda v: v, "relu": torch.relu, "sigmoid": torch.sigmoid}[layer.activation](z)
        z.retain_grad()
        h.retain_grad()
        zs.append(z)
        acts.append(h)
    F.mse_loss(h, m.y, reduction=reduction).backward()
    return {"a": acts, "grad_a": [a.grad for a in acts], "delta": [z.grad for z in zs],
            "weight": [w.grad for w in ws], "bias": [b.grad for b in bs], "x": m.x}


# ---- grading right and wrong answers ----

@pytest.mark.parametrize("q,answer", [
    (Question("weight", 1, (0, 0)), "-28"),  # ∂L/∂W = 2(ŷ − y)x = 2(3 − 10)·2
    (Question("bias", 1, (0,)), "-14"),  # ∂L/∂b = 2(ŷ − y)
    (Question("delta", 1, (0, 0)), "−14"),  # typed with the Unicode minus sign
    (Question("a", 1, (0, 0)), "3.0"),  # ŷ = 1·2 + 1
    (Question("weight", 1, (0, 0)), " -27.8 "),  # within 1 %
])
def test_the_single_weight_is_graded_right(q, answer):
    g = grade(make_prompt(trace(preset("line")), q), answer)
    assert g.correct, g.message
    assert g.mistake is None


@pytest.mark.parametrize("answer", ["-27", "-28.5", "0", "-2.8", "280"])
def test_wrong_numbers_are_wrong(answer):
    g = grade(make_prompt(trace(preset("line")), Question("weight", 1, (0, 0))), answer)
    assert not g.correct
    assert g.message.startswith("Not quite")


@pytest.mark.parametrize("answer", ["", "abc", "28 + 1", "__import__('os')", "1_000", "0x10", "nan", "inf",
                                    "1e400", "１", "2,5", "x" * 10_000])
def test_a_non_number_is_not_graded_and_says_what_to_type(answer):
    g = grade(make_prompt(trace(preset("line")), Question("weight", 1, (0, 0))), answer)
    assert not g.correct and not g.graded and g.message.startswith("Not graded:") and "\n" not in g.message


@pytest.mark.parametrize("q", [Question("weight", 2, (0, 0)), Question("weight", 1, (1, 0)), Question("a", 1, (0,)),
                               Question("z", 1, (0, 0)), Question("bias", 0, (0,))])
def test_a_question_outside_the_network_is_refused_in_one_line(q):
    with pytest.raises(ValueError) as err:
        make_prompt(trace(preset("line")), q)
    assert "\n" not in str(err.value)


def test_the_tolerance_follows_the_quantitys_scale():
    """An element that is exactly 0 (a dead ReLU row) is graded with 0.1 % of the largest entry as slack."""
    t = trace(preset("two-layer"))
    ref = _autograd(preset("two-layer"))
    r = int((ref["a"][1][:, 0] == 0).nonzero()[0])  # a row whose output is exactly 0
    p = make_prompt(t, Question("a", 2, (r, 0)))
    peak = ref["a"][1].abs().max().item()
    assert grade(p, f"{0.0009 * peak:.6f}").correct
    assert not grade(p, f"{0.002 * peak:.6f}").correct


# ---- each mistake constructed independently and recognised ----

def test_forgetting_the_mean_is_recognised():
    spec = _sigmoid_net()
    summed = _autograd(spec, reduction="sum")  # L = Σ (a − y)², no 1/(B·k)
    for q, wrong in [(Question("weight", 2, (1, 0)), summed["weight"][1][1, 0]),
                     (Question("delta", 1, (2, 1)), summed["delta"][0][2, 1]),
                     (Question("bias", 1, (0,)), summed["bias"][0][0])]:
        g = grade(make_prompt(trace(spec), q), f"{wrong.item():.8g}")
        assert (g.correct, g.mistake) == (False, "mean"), (q, g.message)
        assert "1/8" in g.message


def test_forgetting_phi_prime_is_recognised():
    spec = _sigmoid_net()
    ref = _autograd(spec)
    grad_a1, x = ref["grad_a"][0], ref["x"]  # ∂L/∂a_1 (4, 2): what δ_1 would be without σ′
    cases = [(Question("delta", 1, (3, 0)), grad_a1[3, 0].item()),
             (Question("weight", 1, (1, 2)), (grad_a1[:, 1] * x[:, 2]).sum().item()),
             (Question("bias", 1, (1,)), grad_a1[:, 1].sum().item())]
    for q, wrong in cases:
        g = grade(make_prompt(trace(spec), q), f"{wrong:.8g}")
        assert (g.correct, g.mistake) == (False, "slope"), (q, g.message)


def test_the_sign_of_the_loss_derivative_is_recognised():
    g = grade(make_prompt(trace(preset("line")), Question("weight", 1, (0, 0))), "28")  # 2(y − ŷ)x
    assert (g.correct, g.mistake) == (False, "sign")
    ref = _autograd(_sigmoid_net())
    g = grade(make_prompt(trace(_sigmoid_net()), Question("delta", 1, (0, 1))), f"{-ref['delta'][0][0, 1]:.8g}")
    assert g.mistake == "sign"


def test_a_transposed_weight_shape_is_recognised():
    p = make_prompt(trace(preset("two-layer")), Question("weight", 1, None))  # W_1 is (2, 3): out × in
    assert grade(p, "2x3").correct and grade(p, "(2, 3)").correct
    g = grade(p, "3x2")
    assert (g.correct, g.mistake) == (False, "transposed")
    assert grade(p, "(3, 2)").mistake == "transposed"
    assert grade(p, "4x3").mistake is None


def test_forgetting_phi_on_an_activation_is_recognised():
    spec = _sigmoid_net()
    m = materialize(spec)
    z = F.linear(m.x, m.weights[0], m.biases[0])  # z_1, before σ
    g = grade(make_prompt(trace(spec), Question("a", 1, (2, 0))), f"{z[2, 0].item():.8g}")
    assert g.mistake == "activation"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=st.floats(-50, 50, allow_nan=False), quiz_seed=st.integers(0, 10_000), number=st.integers(1, 100))
def test_a_random_wrong_answer_is_not_given_a_mistakes_name(value, quiz_seed, number):
    t = _TRACES["sigmoid"]
    p = make_prompt(t, draw_question(t, quiz_seed, number))
    assume(not p.is_shape)
    for target in [p.expected] + [w for _, _, w in p.mistakes]:  # far from every answer with a name
        assume(abs(value - target) > 0.05 * abs(target) + 0.05)
    g = grade(p, repr(value))
    assert not g.correct and g.mistake is None


# ---- questions drawn from a seed ----

_TRACES = {"sigmoid": trace(_sigmoid_net()), "two-layer": trace(preset("two-layer"))}


@pytest.mark.parametrize("name", list(_TRACES))
def test_every_drawn_answer_is_autograds(name):
    """Twenty questions of a quiz: the expected value is torch autograd's element, the shape its shape."""
    spec = _sigmoid_net() if name == "sigmoid" else preset("two-layer")
    ref, t = _autograd(spec), _TRACES[name]
    for number in range(1, 21):
        q = draw_question(t, 42, number)
        truth = ref[q.quantity][q.layer - 1]
        p = make_prompt(t, q)
        if q.index is None:
            assert p.expected == tuple(truth.shape)
        else:
            assert p.expected == pytest.approx(truth[q.index].item(), rel=1e-10, abs=1e-12)


def test_the_same_seed_gives_the_same_quiz_and_another_seed_another():
    t = _TRACES["sigmoid"]
    first = [draw_question(t, 7, n) for n in range(1, 11)]
    assert len(set(first)) == 10, "a quiz does not repeat a question while others are left"
    assert first == [draw_question(t, 7, n) for n in range(1, 11)]
    assert first != [draw_question(t, 8, n) for n in range(1, 11)]


def test_a_quiz_link_round_trips_to_the_same_questions_in_another_process():
    """A teacher's link (?spec=…&quiz=…&q=…) read by a fresh interpreter (another hash seed) asks the same."""
    spec = _sigmoid_net()
    code = encode_spec(spec)
    seed, number = parse_quiz_ref("1234", "5")
    here = draw_question(trace(decode_spec(code)), seed, number)
    script = ("import sys; from engine.inspector.share import decode_spec; from engine.inspector.trace import trace;"
              "from engine.teach.quiz import draw_question, parse_quiz_ref;"
              "s, n = parse_quiz_ref(sys.argv[2], sys.argv[3]);"
              "print(repr(draw_question(trace(decode_spec(sys.argv[1])), s, n)))")
    out = subprocess.run([sys.executable, "-c", script, code, "1234", "5"], cwd=ROOT, capture_output=True,
                         text=True, timeout=120, env={"PYTHONHASHSEED": "12345", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == repr(here)


@pytest.mark.parametrize("seed,number", [("abc", "1"), ("-1", "1"), ("99999999999", "1"), ("1", "0"), ("1", "101"),
                                         ("1.5", "1"), (None, "1"), ("1", "x" * 1000), ("١٢", "1")])
def test_a_bad_quiz_link_says_what_is_wrong_in_one_line(seed, number):
    with pytest.raises(ValueError) as err:
        parse_quiz_ref(seed, number)
    assert "\n" not in str(err.value) and "whole number" in str(err.value)


# ---- strict parsing ----

@pytest.mark.parametrize("text,dims", [("4x3", (4, 3)), ("4 × 3", (4, 3)), ("(4, 3)", (4, 3)), ("[4,3]", (4, 3)),
                                       ("4*3", (4, 3)), (" ( 4 , 3 ) ", (4, 3)), ("(4,)", (4,)), ("4", (4,)),
                                       ("4X3", (4, 3)), ("(4, 3]", None), ("4x3x2", None), ("(4, 3,)", None),
                                       ("0x3", None), ("-4x3", None), ("4.0x3", None), ("4e3", None),
                                       ("__import__('os').system('ls')", None), ("(((4)))", None), ("", None),
                                       ("４x３", None), ("4x" + "3" * 50, None), ("(" * 30 + "4", None)])
def test_shapes_are_parsed_strictly(text, dims):
    if dims is None:
        with pytest.raises(AnswerError):
            parse_shape(text)
    else:
        assert parse_shape(text) == dims


def test_hostile_answers_are_refused_before_they_are_read():
    for text in ["4" * 1_000_000, "(" * 100_000, None, 12, b"4x3"]:
        with pytest.raises(AnswerError):
            parse_shape(text)
        with pytest.raises(AnswerError):
            parse_number(text)
    assert MAX_ANSWER_CHARS <= 100


def test_numbers_are_parsed_strictly():
    assert parse_number("-28") == -28.0 and parse_number("1.5e-3") == 0.0015 and parse_number(".5") == 0.5
    for bad in ["1/2", "2**3", "1e", "--1", "0x1f", "1 2"]:
        with pytest.raises(AnswerError):
            parse_number(bad)


# ---- random networks (the trace tests' strategy): every question answerable, its answer autograd's ----

@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=specs(), quiz_seed=st.integers(0, 2**31 - 1))
def test_random_networks_ask_autograds_numbers_and_reveal_them(spec, quiz_seed):
    t = trace(spec, numerical=False)
    for number in range(1, 6):
        q = draw_question(t, quiz_seed, number)
        lt = t.layers[q.layer - 1]
        truth = lt.a if q.quantity == "a" else lt.grads[{"delta": "z"}.get(q.quantity, q.quantity)].autograd
        p = make_prompt(t, q)
        if q.index is None:
            assert p.expected == tuple(truth.shape)
            continue
        want = truth[q.index].item()
        assert abs(p.expected - want) <= 1e-10 * max(1.0, truth.abs().max().item())
        assert grade(p, repr(want)).correct
        assert p.derivation and all(e.latex for e in p.derivation)
        for _, _, wrong in p.mistakes:  # typing what a mistake gives: right (when they coincide) or named
            g = grade(p, repr(wrong))
            assert g.correct or g.mistake is not None, g.message


def test_a_saturated_sigmoid_names_no_infinite_mistake():
    """bce on σ(100) = 1.0 exactly: ∂L/∂a = (a − y)/(a(1 − a)) overflows to inf, so "forgot φ′" has no answer;
    a huge typed number must not be called that mistake (inf − 1e308 ≤ 1 % of inf held before)."""
    spec = NetworkSpec(1, [LayerSpec(1, "sigmoid", weight=[[100.0]], bias=[0.0])], loss="bce", x=[[1.0]],
                       y=[[0.0]])
    p = make_prompt(trace(spec), Question("delta", 1, (0, 0)))  # δ = (a − y)/1 = 1 (fused)
    assert grade(p, "1").correct
    assert grade(p, "1e308").mistake is None


@pytest.mark.parametrize("name", ["batchnorm", "residual", "dropout"])
def test_a_network_with_other_kinds_is_refused_in_one_line_not_misderived(name):
    # After BatchNorm and residual blocks landed, a δ question on the layer under a BatchNorm was derived as if
    # the layer above were linear, and a residual block's inner layers shifted the layer numbers the quiz used.
    t = trace(preset(name))
    with pytest.raises(ValueError, match=r"linear layers for now; this one has .*" + name.replace("dropout", "drop")):
        draw_question(t, 1, 1)
    with pytest.raises(ValueError, match="linear layers"):
        make_prompt(t, Question("delta", 1, (0, 0)))


def test_a_gradient_that_is_zero_in_exact_arithmetic_accepts_0_and_autograds_rounding():
    """Softmax output under the sum loss: δ = a ⊙ (1 − Σ a) = 0 exactly; autograd gives ±1e-16 (found by the
    hypothesis test above: the tolerance was 0.1 % of max |δ| = 0, so autograd's own number was "wrong")."""
    spec = NetworkSpec(2, [LayerSpec(4, "identity"), LayerSpec(2, "softmax")], loss="sum", init="kaiming", seed=0,
                       dtype="float64", batch=1)
    t = trace(spec, numerical=False)
    p = make_prompt(t, Question("delta", 1, (0, 1)))
    autograd = t.layers[0].grads["z"].autograd[0, 1].item()
    assert autograd != 0.0 and abs(autograd) < 1e-15
    assert grade(p, "0").correct and grade(p, repr(autograd)).correct
    assert not grade(p, "0.001").correct
