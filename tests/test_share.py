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
from engine.inspector.share import MAX_JSON_BYTES, PREFIX, decode_spec, encode_spec, export_json, spec_from_upload
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
