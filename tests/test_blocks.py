"""Wrapping a group of layers in a residual block and unwrapping it: the network computes x + f(x) (checked
against plain torch), fixed numbers survive, and a group that changes width is refused with one message."""
import pytest
import torch
import torch.nn.functional as F

from engine.core.spec import LayerSpec, SpecError
from engine.inspector.blocks import unwrap_block, wrap_in_block
from engine.inspector.materialize import materialize
from engine.inspector.presets import preset
from engine.inspector.spec import NetworkSpec
from engine.inspector.trace import trace


def _net() -> NetworkSpec:
    layers = [LayerSpec(4, "relu"), LayerSpec(3, "tanh"), LayerSpec(4, "identity"), LayerSpec(1, "identity")]
    return NetworkSpec(2, layers, loss="mse", seed=1, batch=5)


def test_wrapped_layers_compute_x_plus_f_of_x_with_the_same_weights():
    plain = materialize(_net())
    wrapped = wrap_in_block(_net(), 2, 3, activation="relu")
    assert [layer.type for layer in wrapped.layers] == ["linear", "residual", "linear"]
    m = materialize(wrapped)
    p = plain.params
    a1 = torch.relu(F.linear(plain.x, p[0]["weight"], p[0]["bias"]))
    f = F.linear(torch.tanh(F.linear(a1, p[1]["weight"], p[1]["bias"])), p[2]["weight"], p[2]["bias"])
    out = F.linear(torch.relu(a1 + f), p[3]["weight"], p[3]["bias"])
    assert torch.equal(m.params[1]["0.weight"], p[1]["weight"])  # drawn in the same order from the same seed
    assert trace(wrapped).loss == pytest.approx(F.mse_loss(out, plain.y).item(), rel=1e-12)


def test_unwrap_gives_back_the_layers_and_their_fixed_numbers():
    spec = preset("residual")
    flat = unwrap_block(spec, 2)
    assert [layer.type for layer in flat.layers] == ["linear", "linear", "linear", "residual", "linear"]
    assert flat.layers[1].activation == "relu" and flat.layers[2].activation == "identity"
    fixed = NetworkSpec.from_dict({**_net().to_dict(), "layers": [
        {"units": 4, "activation": "relu"}, {"units": 4, "weight": [[1.0] * 4] * 4, "bias": [0.5] * 4}]})
    back = unwrap_block(wrap_in_block(fixed, 2, 2), 2)
    assert back.to_dict() == fixed.to_dict()


@pytest.mark.parametrize("first,last,words", [(2, 2, "layer 2 in a residual block: they map width 4 to width 3"),
                                              (1, 2, "layers 1–2 in a residual block: they map width 2 to width 3")])
def test_a_group_that_changes_width_is_refused_with_its_widths(first, last, words):
    with pytest.raises(SpecError, match=words):
        wrap_in_block(_net(), first, last)


def test_bad_positions_are_refused():
    with pytest.raises(SpecError, match="within 1–4"):
        wrap_in_block(_net(), 3, 2)
    with pytest.raises(SpecError, match="layer 1 is not a residual block"):
        unwrap_block(_net(), 1)
