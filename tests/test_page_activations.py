"""pages/activations.py driven headless: every activation renders and shows its true max difference from torch."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from streamlit.testing.v1 import AppTest

from engine.core.ops import ACTIVATIONS
from engine.lessons import activations as A

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "activations.py")
TABS = ["identity", "relu", "leaky_relu", "sigmoid", "tanh", "softmax"]


def _opened(threshold: float | None = None) -> dict:
    """Each tab's content, opened one after another (tabs are lazy: only the open one runs)."""
    app = AppTest.from_file(PAGE, default_timeout=60).run()
    if threshold is not None:
        app.select_slider(key="threshold").set_value(threshold).run()
    out = {}
    for i, name in enumerate(TABS):
        app.session_state["act_tab"] = name
        app.run()
        assert not app.exception, [e.value for e in app.exception]
        assert [t.label for t in app.tabs] == TABS
        out[name] = app.tabs[i]
    return out


@pytest.fixture(scope="module")
def tabs() -> dict:
    return _opened()


def test_the_page_draws_only_the_open_tab():
    app = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not app.exception
    assert len(app.get("plotly_chart")) == 1 and len(app.tabs[0].metric) == 2  # identity, the first tab
    assert all(len(tab.metric) == 0 for tab in app.tabs[1:])


def test_every_activation_has_a_tab_and_a_plotly_chart(tabs):
    for tab in tabs.values():
        assert len(tab.get("plotly_chart")) == 1 and len(tab.metric) == 2 and len(tab.latex) == 1


def test_every_max_difference_shown_is_below_1e_6(tabs):
    values = [float(m.value) for tab in tabs.values() for m in tab.metric]
    assert len(values) == 2 * len(TABS)
    assert all(0 <= v < 1e-6 for v in values)


def test_shown_differences_equal_an_independent_comparison_with_torch(tabs):
    """Recompute each max |φ − torch| and |φ' − autograd| here, from torch directly, and match the text."""
    reference = {"identity": lambda z: z + 0.0, "relu": F.relu, "leaky_relu": lambda z: F.leaky_relu(z, 0.01),
                 "sigmoid": torch.sigmoid, "tanh": torch.tanh}
    z = A.grid()  # the sample points are an input here; tests/test_activation_table.py checks the grid itself
    for name in TABS[:-1]:
        tab = tabs[name]
        leaf = z.clone().requires_grad_(True)
        reference[name](leaf).sum().backward()
        phi_diff = float((ACTIVATIONS[name].forward(z) - reference[name](z)).abs().max())
        dphi_diff = float((ACTIVATIONS[name].derivative(z) - leaf.grad).abs().max())
        shown = [float(m.value) for m in tab.metric]
        # shown with 2 significant digits ("1.1e-16"), so compare to 5 %
        assert shown == [pytest.approx(phi_diff, rel=0.05), pytest.approx(dphi_diff, rel=0.05)], name


def test_notes_explain_dead_and_vanishing_gradients(tabs):
    text = {name: " ".join(m.value for m in tab.markdown) for name, tab in tabs.items()}
    assert "dead ReLU" in text["relu"]
    assert "vanishing" in text["sigmoid"]
    assert "0.01" in text["leaky_relu"]
    assert "Jacobian" in text["softmax"]


def test_regions_are_listed_where_the_math_puts_them(tabs):
    captions = {name: " ".join(c.value for c in tabs[name].caption) for name in TABS[:-1]}
    assert "dead for z ∈ [-6, 0]" in captions["relu"]
    # σ' < 0.01 for |z| > ln((1 + √0.96)/(1 − √0.96)) ≈ 4.585: the first grid points past it are ±4.59
    edge = math.log((1 + math.sqrt(0.96)) / (1 - math.sqrt(0.96)))
    first = math.ceil(edge * 100) / 100
    assert f"saturated for z ∈ [-6, {-first:g}]" in captions["sigmoid"]
    assert f"saturated for z ∈ [{first:g}, 6]" in captions["sigmoid"]
    assert "No dead or saturated region" in captions["leaky_relu"]


def test_a_larger_threshold_widens_the_saturated_regions():
    opened = _opened(threshold=0.1)
    sigmoid_caption = " ".join(c.value for c in opened["sigmoid"].caption)
    # σ' < 0.1 for |z| > ln((1 + √0.6)/(1 − √0.6)) ≈ 2.063 → first grid point 2.07
    edge = math.log((1 + math.sqrt(0.6)) / (1 - math.sqrt(0.6)))
    assert f"saturated for z ∈ [{math.ceil(edge * 100) / 100:g}, 6]" in sigmoid_caption
    leaky_caption = " ".join(c.value for c in opened["leaky_relu"].caption)
    assert "saturated for z ∈ [-6, 0]" in leaky_caption  # its slope 0.01 is now below the threshold
    assert A.SATURATION == 0.01  # the default the other tests read
