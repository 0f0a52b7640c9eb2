"""engine.inspector.spec / spec_checks / network: JSON round trip, seeded draws, explicit values, clear errors."""
from __future__ import annotations

import json
import math

import pytest
import torch

from engine.inspector.materialize import materialize, with_parameters
from engine.inspector.spec import MAX_BATCH, MAX_LAYERS, MAX_UNITS, LayerSpec, NetworkSpec, SpecError, parse_layers


def _spec(**kw) -> NetworkSpec:
    base = dict(input_size=3, layers=[LayerSpec(4, "relu"), LayerSpec(2, "identity")], loss="mse", seed=0,
                batch=2)
    base.update(kw)
    return NetworkSpec(**base)


def _dict(**kw) -> dict:
    base = {"input_size": 3, "layers": [{"units": 4, "activation": "relu"}, {"units": 2, "activation": "identity"}],
            "loss": "mse", "seed": 0, "batch": 2}
    base.update(kw)
    return base


def _error(d) -> str:
    with pytest.raises(SpecError) as info:
        if isinstance(d, str):
            NetworkSpec.from_json(d)
        else:
            NetworkSpec.from_dict(d)
    message = str(info.value)
    assert "\n" not in message
    return message


# ---- JSON round trip ----

def test_json_round_trip_plain():
    spec = _spec(init="xavier", dtype="float32", seed=7, batch=3)
    back = NetworkSpec.from_json(spec.to_json())
    assert back == spec
    assert back.layers[0] == LayerSpec(4, "relu")
    assert json.loads(spec.to_json())["layers"] == [{"units": 4, "activation": "relu"},
                                                    {"units": 2, "activation": "identity"}]


def test_json_round_trip_with_explicit_values():
    spec = _spec(layers=[LayerSpec(2, "tanh", weight=[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], bias=[0.5, -0.5]),
                         LayerSpec(2, "identity")],
                 loss="cross_entropy", x=[[1.0, 2.0, 3.0]], y=[1])
    text = spec.to_json()
    back = NetworkSpec.from_json(text)
    assert back == spec
    assert back.to_json() == text
    assert json.loads(text)["y"] == [1]


def test_with_parameters_writes_everything_out():
    spec = _spec()
    m = materialize(spec)
    full = with_parameters(spec, m.weights, m.biases, m.x, m.y)
    m2 = materialize(NetworkSpec.from_json(full.to_json()))
    for a, b in zip(m.weights + m.biases + [m.x, m.y], m2.weights + m2.biases + [m2.x, m2.y], strict=True):
        assert torch.equal(a, b)


# ---- seeded draws ----

def test_same_seed_same_tensors_and_different_seed_different():
    a, b, c = materialize(_spec(seed=3)), materialize(_spec(seed=3)), materialize(_spec(seed=4))
    for t1, t2 in zip(a.weights + a.biases + [a.x, a.y], b.weights + b.biases + [b.x, b.y], strict=True):
        assert torch.equal(t1, t2)
    assert not torch.equal(a.weights[0], c.weights[0])
    assert not torch.equal(a.x, c.x)


def test_explicit_values_override_and_leave_other_draws_unchanged():
    base = materialize(_spec(seed=11))
    w1 = [[0.1, 0.2, 0.3]] * 4
    spec = _spec(seed=11)
    spec.layers[0].weight = w1
    m = materialize(spec)
    assert m.weights[0].tolist() == w1
    assert torch.equal(m.weights[1], base.weights[1])  # W2 drawn exactly as before
    assert torch.equal(m.biases[1], base.biases[1])
    assert torch.equal(m.x, base.x) and torch.equal(m.y, base.y)
    # giving x and y leaves every parameter as drawn
    m_xy = materialize(_spec(seed=11, x=[[1.0, 2.0, 3.0]], y=[[0.5, -0.5]]))
    assert m_xy.x.tolist() == [[1.0, 2.0, 3.0]] and m_xy.y.tolist() == [[0.5, -0.5]]
    for t1, t2 in zip(m_xy.weights, base.weights, strict=True):
        assert torch.equal(t1, t2)
    # giving W2 leaves W1 and x unchanged
    spec2 = _spec(seed=11)
    spec2.layers[1].weight = [[1.0] * 4, [2.0] * 4]
    spec2.layers[1].bias = [3.0, 4.0]
    m2 = materialize(spec2)
    assert torch.equal(m2.weights[0], base.weights[0]) and torch.equal(m2.x, base.x)
    assert m2.biases[1].tolist() == [3.0, 4.0]


def test_dtypes_and_target_kinds():
    m = materialize(_spec(dtype="float32"))
    assert all(t.dtype == torch.float32 for t in m.weights + m.biases + [m.x, m.y])
    ce = materialize(_spec(loss="cross_entropy", batch=50))
    assert ce.y.dtype == torch.int64 and ce.y.shape == (50,) and set(ce.y.tolist()) <= {0, 1}
    bce = materialize(_spec(layers=[LayerSpec(3, "sigmoid")], loss="bce", batch=20))
    assert bce.y.shape == (20, 3) and set(bce.y.flatten().tolist()) <= {0.0, 1.0}
    assert materialize(_spec(batch=5)).x.shape == (5, 3)
    ce_float_index = materialize(_spec(loss="cross_entropy", x=[[0.0] * 3] * 2, y=[1.0, 0.0]))
    assert ce_float_index.y.dtype == torch.int64 and ce_float_index.y.tolist() == [1, 0]


@pytest.mark.parametrize("init", ["kaiming", "xavier", "normal", "zeros", "torch"])
def test_init_schemes_have_their_documented_scale(init):
    fan_in, fan_out = 300, 200
    m = materialize(NetworkSpec(fan_in, [LayerSpec(fan_out, "identity")], init=init, seed=1))
    w, b = m.weights[0], m.biases[0]
    assert w.shape == (fan_out, fan_in)
    if init == "zeros":
        assert not w.any() and not b.any()
        return
    expected_std = {"kaiming": math.sqrt(2 / fan_in), "xavier": math.sqrt(6 / (fan_in + fan_out)) / math.sqrt(3),
                    "normal": 1.0, "torch": 1 / math.sqrt(3 * fan_in)}[init]  # U(±c) has std c/√3
    assert w.std().item() == pytest.approx(expected_std, rel=0.02)
    assert abs(w.mean().item()) < 0.02 * expected_std * 3
    if init == "xavier":
        assert w.abs().max().item() <= math.sqrt(6 / (fan_in + fan_out))
    if init == "torch":  # nn.Linear's default: W and b both U(±1/√fan_in)
        bound = 1 / math.sqrt(fan_in)
        assert w.abs().max().item() <= bound and b.abs().max().item() <= bound
        assert b.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.25)
    elif init == "normal":
        assert b.std().item() == pytest.approx(1.0, rel=0.25)  # 200 draws of N(0, 1)
    else:
        assert not b.any()


def test_parse_layers():
    assert parse_layers("4:relu,2:identity") == [LayerSpec(4, "relu"), LayerSpec(2, "identity")]
    assert parse_layers(" 3 ") == [LayerSpec(3, "relu")]
    with pytest.raises(SpecError, match="not UNITS:ACTIVATION"):
        parse_layers("four:relu")


def test_sizes_and_parameter_count():
    spec = _spec()
    assert spec.sizes == [3, 4, 2]
    assert spec.n_parameters == 3 * 4 + 4 + 4 * 2 + 2
    assert spec.output_size == 2


# ---- bad specs: one clear message each ----

BAD = [
    ("zero units", _dict(layers=[{"units": 0, "activation": "relu"}, {"units": 2}]), "layer 1 has 0 units"),
    ("unknown activation", _dict(layers=[{"units": 4, "activation": "swish"}, {"units": 2}]),
     "unknown activation 'swish'"),
    ("softmax hidden", _dict(layers=[{"units": 4, "activation": "softmax"}, {"units": 2}]),
     "softmax is only allowed on the output layer"),
    ("cross_entropy softmax last", _dict(layers=[{"units": 4}, {"units": 2, "activation": "softmax"}],
                                         loss="cross_entropy"), "make the last layer 'identity'"),
    ("cross_entropy one output", _dict(layers=[{"units": 1, "activation": "identity"}], loss="cross_entropy"),
     "at least 2 output units"),
    ("bce without sigmoid", _dict(loss="bce"), "make the last layer 'sigmoid'"),
    ("unknown loss", _dict(loss="hinge"), "unknown loss 'hinge'"),
    ("unknown init", _dict(init="he"), "unknown init 'he'"),
    ("unknown dtype", _dict(dtype="float16"), "unknown dtype 'float16'"),
    ("negative seed", _dict(seed=-1), "seed must be a whole number"),
    ("wrong weight rows", _dict(layers=[{"units": 4, "weight": [[1.0, 2.0, 3.0]] * 3}, {"units": 2}]),
     "layer 1 weight must be a list of 4 rows of 3 numbers"),
    ("wrong weight cols", _dict(layers=[{"units": 4, "weight": [[1.0, 2.0]] * 4}, {"units": 2}]),
     "layer 1 weight must have 3 numbers in every row"),
    ("wrong bias", _dict(layers=[{"units": 4, "bias": [0.0] * 3}, {"units": 2}]), "layer 1 bias must be a list of 4"),
    ("wrong x cols", _dict(x=[[1.0, 2.0]]), "x must have 3 numbers in every row"),
    ("x not rows", _dict(x=[1.0, 2.0, 3.0]), "x must be a list of 3 rows"),
    ("wrong y shape", _dict(x=[[1.0, 2.0, 3.0]], y=[[1.0, 2.0, 3.0]]), "y must have 2 numbers in every row"),
    ("y rows differ from x", _dict(x=[[1.0, 2.0, 3.0]], y=[[1.0, 2.0], [3.0, 4.0]]), "y must be a list of 1 rows"),
    ("NaN in x", _dict(x=[[1.0, float("nan"), 3.0]]), "x holds a NaN"),
    ("Inf in weight", _dict(layers=[{"units": 4, "weight": [[1.0, 2.0, float("inf")]] * 4}, {"units": 2}]),
     "layer 1 weight holds a NaN, Inf"),
    ("class index out of range", _dict(loss="cross_entropy", x=[[0.0] * 3] * 2, y=[0, 2]),
     "y must hold class indices 0–1"),
    ("class index fractional", _dict(loss="cross_entropy", x=[[0.0] * 3], y=[0.5]), "class indices"),
    ("class targets count", _dict(loss="cross_entropy", x=[[0.0] * 3] * 2, y=[0]),
     "y must be a list of 2 class indices"),
    ("bce target not 0/1", _dict(layers=[{"units": 2, "activation": "sigmoid"}], loss="bce",
                                 x=[[0.0] * 3], y=[[0.5, 1.0]]), "y must hold 0 or 1 for bce"),
    ("too many layers", _dict(layers=[{"units": 2}] * (MAX_LAYERS + 1)), "the network needs 1–12 layers, got 13"),
    ("no layers", _dict(layers=[]), "the network needs 1–12 layers, got 0"),
    ("too many units", _dict(layers=[{"units": MAX_UNITS + 1}, {"units": 2}]), "layer 1 has 4097 units; use 1–4096"),
    ("input too wide", _dict(input_size=MAX_UNITS + 1), "input_size must be a whole number 1–4096"),
    ("batch too big", _dict(batch=MAX_BATCH + 1), "batch must be 1–4096"),
    ("batch zero", _dict(batch=0), "batch must be 1–4096"),
    ("x too many rows", _dict(x=[[0.0] * 3] * (MAX_BATCH + 1)), "x must hold 1–4096 rows"),
    ("too many parameters", _dict(input_size=4096, layers=[{"units": 4096}] * 3), "the limit is 2,000,000"),
    ("unknown field", _dict(learning_rate=0.1), "unknown field(s) learning_rate"),
    ("unknown layer key", _dict(layers=[{"units": 4, "act": "relu"}, {"units": 2}]), "bad layer entry"),
    ("missing layers", {"input_size": 3}, "the spec needs input_size and layers"),
    ("not an object", [1, 2], "the spec must be a JSON object"),
    ("units not a number", _dict(layers=[{"units": "4"}, {"units": 2}]), "layer 1 has '4' units"),
    ("units bool", _dict(layers=[{"units": True}, {"units": 2}]), "layer 1 has True units"),
]


@pytest.mark.parametrize(("case", "spec", "needle"), BAD, ids=[b[0] for b in BAD])
def test_bad_spec_gives_clear_message(case, spec, needle):
    message = _error(spec)
    assert needle in message, message


def test_invalid_json():
    assert "not valid JSON" in _error('{"input_size": 3, "layers": [')


def test_nan_through_json_text():
    # Python's json accepts the NaN literal: the check must still refuse it
    assert "x holds a NaN" in _error('{"input_size": 1, "layers": [{"units": 1}], "x": [[NaN]]}')


def test_every_problem_is_listed():
    message = _error(_dict(loss="hinge", init="he", dtype="half"))
    assert "unknown loss" in message and "unknown init" in message and "unknown dtype" in message
    with pytest.raises(SpecError) as info:
        NetworkSpec.from_dict(_dict(loss="hinge", init="he"))
    assert len(info.value.problems) == 2


@pytest.mark.parametrize(("spec", "expected"), [
    (_dict(x=5), "x must hold 1–4096 rows"),  # x given as a number, not rows
    (_dict(layers=[{"units": 4, "activation": ["relu"]}, {"units": 2}]),  # activation not a string
     "layer 1: unknown activation ['relu']; use one of identity, relu, leaky_relu, sigmoid, tanh, softmax"),
    (_dict(loss={"name": "mse"}), "unknown loss {'name': 'mse'}; use one of mse, cross_entropy, bce, sum"),
    (_dict(layers=[{"units": 4, "type": ["linear"]}]),
     "layer 1: unknown type ['linear']; use one of linear, batchnorm, layernorm, dropout, residual"),
], ids=["x-number", "activation-list", "loss-object", "type-list"])
def test_wrong_types_give_a_spec_error_not_a_crash(spec, expected):
    """Any JSON a user can write gives a SpecError naming the field and the fix (the CLI prints it, exit 2)."""
    assert _error(spec) == expected


def test_valid_spec_passes_check_and_limits_are_inclusive():
    assert _spec().check() is not None
    NetworkSpec.from_dict(_dict(layers=[{"units": 2}] * MAX_LAYERS))
    NetworkSpec.from_dict(_dict(batch=MAX_BATCH))
    NetworkSpec.from_dict(_dict(input_size=MAX_UNITS, layers=[{"units": 2}]))
