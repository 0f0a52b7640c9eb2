"""The Inspector page driven headless (AppTest): the numbers it shows, edits, bad input, and share links.

Expected numbers come from hand derivations or an independent torch computation in this file,
never from the page's own engine calls.
"""
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from streamlit.testing.v1 import AppTest

from engine.inspector.materialize import materialize
from engine.inspector.presets import PRESETS, preset
from engine.inspector.share import decode_spec, encode_spec
from engine.inspector.spec import NetworkSpec

PAGE = str(Path(__file__).parents[1] / "pages" / "inspector.py")
TIMEOUT = 30


def _page(tab: str | None = None, spec_code: str | None = None, builder: bool = False) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT)
    if builder:  # the builder is lazy: its widgets exist only while it is open
        at.session_state["insp_builder"] = True
    if spec_code is not None:
        at.query_params["spec"] = spec_code
    if tab:
        at.session_state["insp_tab"] = tab
    return at.run()


def _open(at: AppTest, tab: str) -> AppTest:
    at.session_state["insp_tab"] = tab
    return at.run()


def _numbers(at: AppTest) -> list[float]:
    """Every number in every table and metric on the page."""
    found = []
    for df in at.dataframe:
        found += [v for v in df.value.to_numpy().flatten().tolist() if isinstance(v, int | float)]
    for m in at.metric:
        try:
            found.append(float(m.value))
        except ValueError:
            pass
    return found


def _summary(at: AppTest) -> str:
    return next(m.value for m in at.markdown if "loss" in m.value and "batch" in m.value)


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]


def test_opens_on_the_two_layer_example_with_its_loss():
    at = _page()
    _ok(at)
    assert not at.error
    m = materialize(preset("two-layer"))  # independent: torch's own layers on the same numbers
    loss = F.mse_loss(torch.relu(m.x @ m.weights[0].T + m.biases[0]) @ m.weights[1].T + m.biases[1], m.y)
    summary = _summary(at)
    assert "two-layer" in summary and "3 → 2 → 1" in summary and f"{loss.item():.6g}" in summary
    assert "✓ pass" in summary
    assert at.get("plotly_chart"), "the network diagram is drawn on the default tab"


def test_line_preset_shows_minus_28_and_minus_14_on_backward():
    # ŷ = 1·2 + 1 = 3, L = (3 − 10)² = 49, ∂L/∂W = 2(ŷ − y)·x = −28, ∂L/∂b = δ = 2(ŷ − y) = −14
    at = _page("Backward")
    at.button(key="insp_preset_line").click().run()
    _ok(at)
    numbers = _numbers(at)
    assert -28.0 in numbers and -14.0 in numbers
    assert "= **49**" in _summary(at)


@pytest.mark.parametrize("name", [n for n in PRESETS if n != "line"])
def test_every_preset_loads_and_agrees(name):
    at = _page("Forward")
    at.button(key=f"insp_preset_{name}").click().run()
    _ok(at)
    assert not at.error and name in _summary(at) and "✓ pass" in _summary(at)


def test_every_tab_runs_on_the_line_preset():
    at = _page(spec_code=encode_spec(preset("line")))
    for tab in ("Diagram", "Forward", "Backward", "Math", "Graph", "Step", "Share"):
        _open(at, tab)
        _ok(at)
        assert not at.error, tab
    _open(at, "Graph")
    dot = at.get("graphviz_chart")[0].proto.spec
    assert "grad [-28]" in dot and "grad [-14]" in dot


def test_math_tab_term_by_term_on_line():
    at = _page("Math", encode_spec(preset("line")))
    _ok(at)
    latex = " ".join(x.value for x in at.latex)
    assert r"(-14)\cdot2 = (-28)" in latex  # δ = −14 times a₀ = x = 2
    assert r"(1\times 1) = (1\times 1)\,(1\times 1)" in latex


def test_one_sgd_step_on_line_reaches_zero_loss():
    # W = 1 − 0.1·(−28) = 3.8, b = 1 − 0.1·(−14) = 2.4, ŷ = 3.8·2 + 2.4 = 10 = y
    at = _page("Step", encode_spec(preset("line")))
    at.button(key="insp_step_one").click().run()
    _ok(at)
    numbers = _numbers(at)
    assert pytest.approx(2.8) in numbers and pytest.approx(1.4) in numbers and pytest.approx(3.8) in numbers
    assert any(m.label.startswith("loss after") and float(m.value) == 0 for m in at.metric)
    at.button(key="insp_step_keep").click().run()  # continue from the stepped network
    _ok(at)
    assert "= **0**" in _summary(at)


def test_edited_units_activation_and_loss():
    at = _page(builder=True)
    at.number_input(key="insp_units_1").set_value(5).run()
    at.selectbox(key="insp_act_1").set_value("tanh").run()
    _ok(at)
    assert "3 → 5 → 1" in _summary(at) and "tanh" in _summary(at)
    at.number_input(key="insp_n_layers").set_value(3).run()
    at.selectbox(key="insp_act_3").set_value("sigmoid").run()
    at.selectbox(key="insp_loss").set_value("bce").run()
    _ok(at)
    assert not at.error and "loss bce" in _summary(at)
    assert decode_spec(at.query_params["spec"]).loss == "bce"  # the URL follows the edits


def test_cross_entropy_on_a_softmax_output_is_an_error_not_a_traceback():
    at = _page(builder=True)
    at.number_input(key="insp_units_2").set_value(3).run()
    at.selectbox(key="insp_act_2").set_value("softmax").run()
    at.selectbox(key="insp_loss").set_value("cross_entropy").run()
    _ok(at)
    assert at.error and "make the last layer 'identity'" in at.error[0].value


def test_float32_runs_and_explains_rounding():
    at = _page("Backward", builder=True)
    at.selectbox(key="insp_dtype").set_value("float32").run()
    _ok(at)
    assert "float32" in _summary(at) and any("float32" in c.value for c in at.caption)


def test_a_link_reproduces_the_view():
    spec = preset("single-step")
    at = _page(spec_code=encode_spec(spec))
    _ok(at)
    assert "single-step" in _summary(at) and "4 → 2" in _summary(at)
    back = decode_spec(at.query_params["spec"]).to_dict()
    assert back.pop("batch") == 1 and back == {k: v for k, v in spec.to_dict().items() if k != "batch"}


def test_a_damaged_link_says_so_and_falls_back():
    at = _page(spec_code="b1.definitely-not-a-spec")
    _ok(at)
    assert at.error and "could not be loaded" in at.error[0].value and "two-layer" in _summary(at)


def test_a_bad_upload_gives_an_error():
    def script():
        import streamlit as st

        from ui.inspector_tools import apply_upload
        st.error(apply_upload(b'{"input_size": 2, "layers": [{"units": 0}]}') or "loaded")
        st.error(apply_upload(b"\x00garbage") or "loaded")

    at = AppTest.from_function(script, default_timeout=TIMEOUT).run()
    _ok(at)
    assert "layer 1 has 0 units" in at.error[0].value and "not valid JSON" in at.error[1].value


def test_diagram_hover_shows_the_weights_and_gradients():
    from engine.inspector.trace import trace
    from ui.network_diagram import network_figure

    t = trace(preset("line"))
    hover = lambda fig: " ".join(" ".join(tr.hovertext or []) for tr in fig.data)  # noqa: E731
    assert "W1[0,0] = 1" in hover(network_figure(t, 0, "weight")[0])
    assert "∂L/∂W1[0,0] = -28" in hover(network_figure(t, 0, "gradient")[0])
    assert "input x[0,0] = 2" in hover(network_figure(t, 0)[0]) and "δ = ∂L/∂z = -14" in hover(network_figure(t)[0])


def test_left_out_elements_near_a_saturated_bce_output_are_not_called_relu_kinks():
    from engine.inspector.spec import LayerSpec, NetworkSpec
    from engine.inspector.trace import trace
    from ui.inspector_views import _kinks

    spec = NetworkSpec(1, [LayerSpec(2, "tanh", weight=[[1.0], [2.0]], bias=[0.0, 0.0]),
                           LayerSpec(1, "sigmoid", weight=[[9.0, 9.0]], bias=[0.0])], loss="bce", x=[[2.0]], y=[[1.0]])
    g = trace(spec).layers[-1].grads["a"]
    assert g.kink.all()  # a = σ(≈25) is within 1e-4 of 1: left out
    note = _kinks(g)
    assert "ReLU" not in note and "kink" not in note and "within 1e-4 of 0 or 1" in note


def _chart_titles(at: AppTest) -> list[str]:
    import json

    return [json.loads(c.proto.spec).get("layout", {}).get("title", {}).get("text", "") for c in at.get("plotly_chart")]


def test_backward_of_the_1x1_line_net_has_no_one_cell_heatmaps_and_no_relu_talk():
    at = _page("Backward", encode_spec(preset("line")))
    _ok(at)
    assert _chart_titles(at) == []  # 1 number per gradient: written out, not drawn as a one-cell heatmap
    page = " ".join(str(e.value) for kind in (at.caption, at.markdown, at.warning) for e in kind)
    assert "kink" not in page.lower()  # `line` has no ReLU
    assert "|numerical − autograd| = " in page


def test_backward_says_kink_only_when_the_network_has_a_relu():
    at = _page("Backward", encode_spec(preset("two-layer")))  # 3 → 2 relu → 1
    _ok(at)
    at.selectbox(key="insp_bw_layer").set_value("layer 1 (relu)").run()
    assert any("ReLU kink" in t for t in _chart_titles(at))


def test_one_weight_term_by_term_is_wrapped_to_fit_the_page():
    from engine.inspector.spec import LayerSpec, NetworkSpec

    spec = NetworkSpec(2, [LayerSpec(3, "relu"), LayerSpec(2, "identity")], loss="cross_entropy", seed=0, batch=8)
    at = _page("Math", encode_spec(spec))
    _ok(at)
    term = next(e.value for e in at.latex if r"\cdot" in e.value and "W_{" in e.value)
    lines = term.split(r"\\")
    assert len(lines) >= 4 and max(line.count(r"\cdot") for line in lines) <= 2  # 8 products, 2 a line


def test_diagram_settings_survive_a_visit_to_another_tab():
    at = _page("Diagram")
    at.radio(key="insp_edge_mode").set_value("gradients ∂L/∂W").run()
    at.number_input(key="insp_sample").set_value(2).run()
    _open(at, "Forward")
    _open(at, "Diagram")
    _ok(at)
    assert at.radio(key="insp_edge_mode").value == "gradients ∂L/∂W"
    assert at.number_input(key="insp_sample").value == 2


def test_a_number_out_of_range_is_named_and_no_older_network_is_shown():
    """A bounded input turned 100 red in the browser while the page kept drawing the previous network (4 units).
    Now the typed value reaches the server: the error names it and the range, and no stale figures follow."""
    at = _page(builder=True)
    at.number_input(key="insp_units_1").set_value(100).run()
    assert not at.exception
    shown = " ".join(e.value.replace("\\", "") for e in at.error)
    assert "Layer 1 units = 100 was rejected: use 1–64" in shown
    assert not at.get("plotly_chart") and not at.tabs


def test_the_closed_builder_draws_no_widgets_and_a_preset_still_loads():
    at = _page()
    assert "insp_n_layers" not in [w.key for w in at.number_input]  # lazy: the form's widgets are not drawn
    at.button(key="insp_preset_line").click().run()
    _ok(at)
    assert "line" in _summary(at) and "1 → 1" in _summary(at)
    at.session_state["insp_builder"] = True
    at.run()  # opened: the form shows the loaded network
    assert at.number_input(key="insp_n_layers").value == 1 and at.number_input(key="insp_input_size").value == 1


def test_the_sidebar_seed_moves_the_network_whether_the_builder_is_open_or_closed():
    shown = {}
    for builder in (False, True):
        at = _page(builder=builder)
        at.session_state["seed"] = 3  # the sidebar's seed moved
        at.run()
        _ok(at)
        assert at.session_state["insp_spec"]["seed"] == 3
        shown[builder] = _summary(at)
    two_layer = materialize(NetworkSpec.from_dict({**preset("two-layer").to_dict(), "seed": 3}))
    p = two_layer.params
    out = F.linear(torch.relu(F.linear(two_layer.x, p[0]["weight"], p[0]["bias"])), p[1]["weight"], p[1]["bias"])
    assert shown[False] == shown[True] and f"**{F.mse_loss(out, two_layer.y).item():.6g}**" in shown[False]


def test_numbers_typed_before_closing_the_builder_are_in_the_table_when_it_opens_again():
    at = _page(spec_code=encode_spec(preset("line")))  # x = 2, y = 10 typed in a table
    at.session_state["insp_spec"]["x"] = [[3.0]]  # as the table editor left it before the builder was closed
    at.run()
    assert at.session_state["insp_table"]["df"].iloc[0].tolist() == ["3.0", "10.0"]
    at.session_state["insp_builder"] = True
    at.run()
    _ok(at)
    assert at.session_state["insp_spec"]["x"] == [[3.0]] and at.data_editor[0].value.iloc[0].tolist() == ["3.0", "10.0"]
