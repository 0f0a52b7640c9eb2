"""Share codes and JSON files round-trip a spec exactly; anything else is a SpecError that says what to do."""
import base64
import json
import zlib

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.inspector.materialize import materialize
from engine.inspector.presets import PRESETS, preset
from engine.inspector.share import (
    MAX_JSON_BYTES,
    PREFIX,
    decode_spec,
    decode_step,
    encode_spec,
    encode_step,
    export_json,
    spec_from_upload,
)
from engine.inspector.spec import LayerSpec, NetworkSpec, SpecError


@pytest.mark.parametrize("name", list(PRESETS))
def test_presets_round_trip_through_a_code(name):
    spec = preset(name)
    code = encode_spec(spec)
    assert code.startswith(PREFIX) and all(c.isalnum() or c in "-_." for c in code)
    assert decode_spec(code).to_dict() == spec.to_dict()


def test_float32_weights_round_trip_bit_for_bit():
    spec = NetworkSpec(3, [LayerSpec(4, "tanh"), LayerSpec(2, "identity")], dtype="float32", seed=5)
    m = materialize(spec)
    back = spec_from_upload(export_json(spec).encode())
    m2 = materialize(back)
    for a, b in zip(m.weights + m.biases + [m.x, m.y], m2.weights + m2.biases + [m2.x, m2.y], strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("code,fragment", [
    ("", "empty"), ("hello", "not a Backprop Lab share code"), (PREFIX + "!!!!", "damaged"),
    (PREFIX + "aGVsbG8", "does not decompress"), (PREFIX, "cut short"),
])
def test_garbage_codes_are_refused_with_a_reason(code, fragment):
    with pytest.raises(SpecError, match=fragment):
        decode_spec(code)


def _code_of(text: str) -> str:
    return PREFIX + base64.urlsafe_b64encode(zlib.compress(text.encode())).decode().rstrip("=")


def test_a_valid_code_with_an_invalid_spec_names_the_problem():
    bad = {"input_size": 2, "layers": [{"units": 3, "activation": "softmax"}, {"units": 1}]}
    with pytest.raises(SpecError, match="softmax is only allowed on the output layer"):
        decode_spec(_code_of(json.dumps(bad)))
    with pytest.raises(SpecError, match="not valid JSON"):
        decode_spec(_code_of("{nope"))


def test_a_decompression_bomb_is_refused():
    with pytest.raises(SpecError, match="more than"):
        decode_spec(_code_of(" " * (MAX_JSON_BYTES + 10)))


@pytest.mark.parametrize("data,fragment", [(b"\xff\xfe", "not UTF-8"), (b"[1, 2]", "JSON object"),
                                           (b'{"input_size": 0, "layers": []}', "input_size")])
def test_bad_uploads_are_refused(data, fragment):
    with pytest.raises(SpecError, match=fragment):
        spec_from_upload(data)


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=200))
def test_any_text_either_decodes_or_raises_spec_error(text):
    try:
        decode_spec(text)
    except SpecError:
        pass


@given(n=st.integers(1, 999), k=st.integers(0, 998))
def test_the_stepper_step_round_trips_through_a_link(n, k):
    k = min(k, n - 1)
    assert decode_step(encode_step(k), n) == k


@pytest.mark.parametrize("text,fragment", [
    ("0", "step 0 is outside this network's steps 1–9"), ("10", "step 10 is outside"),
    ("-1", "is not a whole number"), ("1.5", "is not a whole number"), ("٣", "is not a whole number"),
    (" 3", "is not a whole number"), ("1" * 5000, "'111111111111…' is not a whole number"), ("", "not a whole"),
])
def test_a_crafted_step_is_refused_in_one_line(text, fragment):
    with pytest.raises(SpecError, match=fragment) as err:
        decode_step(text, 9)
    assert len(err.value.problems) == 1 and len(err.value.problems[0]) < 120
