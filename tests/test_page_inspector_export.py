"""The Inspector's Export (Share tab): both files offered for the current network, or why not."""
from __future__ import annotations

import ast
import json
from pathlib import Path

import nbformat
import streamlit as st
from streamlit.testing.v1 import AppTest

from engine.inspector.presets import preset
from engine.inspector.share import encode_spec
from engine.inspector.spec import LayerSpec, NetworkSpec

PAGE = str(Path(__file__).parents[1] / "pages" / "inspector.py")


def _share_tab(monkeypatch, spec_code: str | None = None) -> tuple[AppTest, dict]:
    """The page on its Share tab, and every download button's file name → its data."""
    offered = {}
    original = st.download_button

    def spy(label, data, file_name=None, *args, **kwargs):
        offered[file_name] = data
        return original(label, data, file_name, *args, **kwargs)

    monkeypatch.setattr(st, "download_button", spy)
    at = AppTest.from_file(PAGE, default_timeout=60)
    if spec_code is not None:
        at.query_params["spec"] = spec_code
    at.session_state["insp_tab"] = "Share"
    return at.run(), offered


def test_export_offers_the_script_and_the_notebook_of_the_shown_network(monkeypatch):
    spec = preset("single-step")
    at, offered = _share_tab(monkeypatch, encode_spec(spec))
    assert not at.exception
    labels = [b.proto.label for b in at.get("download_button")]
    assert "Export: Python script (.py)" in labels and "Export: Jupyter notebook (.ipynb)" in labels
    script, notebook = offered["backprop-lab-network.py"], offered["backprop-lab-network.ipynb"]
    ast.parse(script)
    nbformat.validate(nbformat.reads(notebook, as_version=4))
    # the shown network's own numbers: single-step's x and y are given by the preset
    assert "[[0.8, 0.4, 0.4, 0.2]]" in script and "[[1.0, 0.0]]" in script
    assert json.loads(notebook)["nbformat"] == 4


def test_a_network_too_large_to_write_out_says_so(monkeypatch):
    big = NetworkSpec(3, [LayerSpec(400, "relu"), LayerSpec(400, "relu"), LayerSpec(1, "identity")], batch=2)  # 163 k
    at, offered = _share_tab(monkeypatch, encode_spec(big))
    assert not at.exception
    assert not any(name.startswith("backprop-lab-network") for name in offered)
    assert any("an export writes every one of them out" in c.value for c in at.caption)


def test_the_spec_and_weights_download_counts_a_residual_blocks_inner_weights(monkeypatch):
    # budget.export_numbers counted from the top-level widths and left out a block's inner layers: this net has
    # 180 k numbers to write (two 300×300 inner layers) but was counted as ~600 and offered in full
    inner = [LayerSpec(300, "relu"), LayerSpec(300, "identity")]
    big = NetworkSpec(300, [LayerSpec(type="residual", layers=inner), LayerSpec(1, "identity")], batch=2)
    assert big.n_export_numbers == big.n_parameters + 2 * (300 + 1) > 180_000
    at, _ = _share_tab(monkeypatch, encode_spec(big))
    assert not at.exception
    labels = [b.proto.label for b in at.get("download_button")]
    assert "Download spec + weights (JSON)" not in labels and "Download spec (JSON)" in labels
