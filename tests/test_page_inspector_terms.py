"""The Inspector's Math tab, one input gradient term by term (AppTest): the number it ends at is autograd's,
computed here with nn.BatchNorm1d and a residual block in plain torch."""
from pathlib import Path

import torch
import torch.nn.functional as F
from streamlit.testing.v1 import AppTest

from engine.inspector.materialize import materialize
from engine.inspector.presets import preset
from engine.inspector.share import encode_spec
from engine.inspector.spec import LayerSpec, NetworkSpec

PAGE = str(Path(__file__).parents[1] / "pages" / "inspector.py")


def _math(name: str, **state) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.query_params["spec"] = encode_spec(preset(name))
    at.session_state["insp_tab"] = "Math"
    for key, value in state.items():
        at.session_state[key] = value
    at = at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _closing_caption(at: AppTest) -> str:
    return next(c.value for c in at.caption if "in the Backward tab (autograd gives" in c.value and "∂L/∂a" in c.value)


def test_batchnorm_element_ends_at_nn_batchnorm1d_gradient():
    m = materialize(preset("batchnorm"))
    bn = torch.nn.BatchNorm1d(6, dtype=torch.float64)  # γ = 1, β = 0 as the preset
    h = F.linear(m.x, m.params[0]["weight"], m.params[0]["bias"]).requires_grad_(True)
    F.cross_entropy(F.linear(torch.tanh(bn(h)), m.params[2]["weight"], m.params[2]["bias"]), m.y).backward()
    at = _math("batchnorm", insp_elem_r=3, insp_elem_j=1)
    assert _closing_caption(at).startswith(f"{h.grad[3, 1].item():.10g} is entry [3,1] of ∂L/∂a1")
    tex = " ".join(x.value for x in at.latex)
    assert r"\frac{\partial L}{\partial \sigma^2}" in tex and r"\frac{\partial L}{\partial \mu}" in tex
    assert r"\frac{\gamma}{B\sigma}\Big(B\delta" in tex


def test_weight_entry_ends_at_autograd_and_a_remembered_index_past_the_matrix_is_clamped():
    m = materialize(preset("batchnorm"))
    w3 = m.params[2]["weight"].clone().requires_grad_(True)  # W3, shape (out, 6)
    bn = torch.nn.BatchNorm1d(6, dtype=torch.float64)
    h = F.linear(m.x, m.params[0]["weight"], m.params[0]["bias"])
    F.cross_entropy(F.linear(torch.tanh(bn(h)), w3, m.params[2]["bias"]), m.y).backward()
    at = _math("batchnorm", insp_term_layer="W3", insp_term_i=99, insp_term_j=2)
    i = w3.shape[0] - 1  # 99 is past the last row: the pick is clamped to it
    assert at.number_input(key="insp_term_i").value == i
    closing = next(c.value for c in at.caption if c.value.startswith("The sum "))
    assert closing.startswith(f"The sum {w3.grad[i, 2].item():.10g} is entry [{i},2] of ∂L/∂W3"), closing


def test_residual_element_shows_the_two_paths():
    at = _math("residual", insp_elem_layer="layer 5 (residual)", insp_elem_r=0, insp_elem_j=0)
    assert "skip" in " ".join(x.value for x in at.latex)
    assert _closing_caption(at).endswith("indices count from 0, as in PyTorch.")
    assert "of ∂L/∂a4" in _closing_caption(at)


def _four_layer_page() -> AppTest:
    layers = [LayerSpec(4, "relu"), LayerSpec(3, "tanh"), LayerSpec(4, "identity"), LayerSpec(1, "identity")]
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.query_params["spec"] = encode_spec(NetworkSpec(2, layers, loss="mse", seed=1, batch=5))
    at.session_state["insp_builder"] = True  # the builder (and its block tools) is lazy: drawn while open
    return at.run()


def test_builder_wraps_a_group_in_a_residual_block_and_unwraps_it():
    at = _four_layer_page()
    m = materialize(NetworkSpec.from_dict(at.session_state["insp_spec"]))
    p = m.params
    a1 = torch.relu(F.linear(m.x, p[0]["weight"], p[0]["bias"]))
    f = F.linear(torch.tanh(F.linear(a1, p[1]["weight"], p[1]["bias"])), p[2]["weight"], p[2]["bias"])
    expected = F.mse_loss(F.linear(a1 + f, p[3]["weight"], p[3]["bias"]), m.y).item()  # block activation: identity
    at.number_input(key="insp_wrap_first").set_value(2)
    at.number_input(key="insp_wrap_last").set_value(3)
    at = at.button(key="insp_wrap").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert [layer.get("type", "linear") for layer in at.session_state["insp_spec"]["layers"]] == [
        "linear", "residual", "linear"]
    summary = next(x.value for x in at.markdown if "loss mse =" in x.value)
    assert f"**{expected:.6g}**" in summary
    at = at.button(key="insp_unwrap_button").click().run()
    assert [layer.get("type", "linear") for layer in at.session_state["insp_spec"]["layers"]] == ["linear"] * 4


def test_builder_refuses_a_group_that_changes_width():
    at = _four_layer_page()
    at.number_input(key="insp_wrap_first").set_value(2)
    at.number_input(key="insp_wrap_last").set_value(2)
    at = at.button(key="insp_wrap").click().run()
    assert not at.exception
    assert any("cannot wrap layer 2 in a residual block: they map width 4 to width 3" in e.value.replace("\\", "")
               for e in at.error)  # the message is shown escaped as markdown
    assert len(at.session_state["insp_spec"]["layers"]) == 4
