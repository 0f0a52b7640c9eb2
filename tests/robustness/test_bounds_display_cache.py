"""The Inspector never draws huge tables, and its trace cache is bounded by bytes, not only by count."""
from __future__ import annotations

from pathlib import Path

import torch
from streamlit.testing.v1 import AppTest

from engine.inspector.share import encode_spec
from engine.inspector.spec import NetworkSpec
from ui import inspector_views
from ui.matrix import SHOWN_MAX, clip
from ui.trace_cache import BoundedCache, tensor_bytes

PAGE = str(Path(__file__).parents[2] / "pages" / "inspector.py")


def test_clip_keeps_the_top_left_corner_and_says_so():
    values = torch.arange(4096 * 480, dtype=torch.float64).view(4096, 480)
    shown, note = clip(values)
    assert tuple(shown.shape) == (SHOWN_MAX, SHOWN_MAX) == (64, 64)
    assert shown[63, 63].item() == 63 * 480 + 63
    assert note == "showing rows 0–63 of 4,096 and columns 0–63 of 480"
    assert clip(torch.zeros(3, 5))[1] is None
    assert clip(torch.zeros(100))[1] == "showing elements 0–63 of 100"


def test_the_forward_tab_draws_at_most_64_by_64_cells_per_tensor():
    spec = NetworkSpec.from_dict({"input_size": 200, "layers": [{"units": 100}, {"units": 3, "activation": "identity"}],
                                  "batch": 80})
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.query_params["spec"] = encode_spec(spec)
    at.session_state["insp_tab"] = "Forward"
    at.run()
    assert not at.exception
    captions = [c.value for c in at.caption]
    assert any("W1 — shape 100×200 (showing rows 0–63 of 100 and columns 0–63 of 200)" in c for c in captions)
    charts = [c for c in at.get("plotly_chart")]
    assert charts
    import json
    for chart in charts:
        for trace in json.loads(chart.proto.spec)["data"]:
            if trace.get("type") == "heatmap":
                z = trace["z"]
                assert len(z) <= 64 and all(len(row) <= 64 for row in z)


def test_the_cache_evicts_the_oldest_beyond_its_byte_bound():
    cache = BoundedCache(max_entries=10, max_bytes=1000, size=lambda v: v)
    for key, size in [("a", 400), ("b", 400), ("c", 400)]:
        assert cache.get(key, lambda s=size: s) == size
    assert len(cache) == 2 and cache.nbytes == 800  # "a" went: 1200 > 1000
    assert cache.get("too big", lambda: 5000) == 5000 and cache.nbytes == 800  # returned, not kept
    calls = []
    cache.get("b", lambda: calls.append(1) or 400)  # "b" is still there: not recomputed
    assert calls == []


def _spec_json(seed: int) -> str:
    return NetworkSpec.from_dict({"input_size": 64, "layers": [{"units": 64}, {"units": 2, "activation": "identity"}],
                                  "batch": 8, "seed": seed}).to_json()


def test_the_inspector_trace_cache_is_bounded_by_bytes(monkeypatch):
    one = tensor_bytes(inspector_views.trace(NetworkSpec.from_json(_spec_json(0))))
    assert one > 8 * 64 * 64  # W1 alone, float64
    monkeypatch.setattr(inspector_views, "TRACES", BoundedCache(max_entries=64, max_bytes=int(2.5 * one)))
    for seed in range(8):
        inspector_views.cached_trace(_spec_json(seed))
    assert len(inspector_views.TRACES) == 2  # 8 traces of equal size; room for 2.5
    assert inspector_views.TRACES.nbytes <= 2.5 * one


BIG = {"input_size": 1000, "layers": [{"units": 1000}, {"units": 10, "activation": "identity"}], "batch": 99}


def test_the_share_tab_offers_the_seeded_spec_instead_of_a_million_numbers():
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.query_params["spec"] = encode_spec(NetworkSpec.from_dict(BIG))
    at.session_state["insp_tab"] = "Share"
    at.run()
    assert not at.exception
    # 1000·1000 + 1000 + 1000·10 + 10 = 1,011,010 parameters + 99 rows × (1000 + 10) = 99,990 data values
    assert any("This network has 1,111,000 weights and data values" in c.value for c in at.caption)
    assert at.get("download_button")[0].proto.label == "Download spec (JSON)"


def test_a_table_too_big_to_edit_says_what_to_do():
    from engine.inspector.budget import table_problem

    assert table_problem(99, 1010) == ("the x/y table would have 99 rows × 1,010 columns = 99,990 cells; the editor "
                                       "takes 20,000 — use batch ≤ 19 or draw x and y from the seed (or edit them "
                                       "in a downloaded JSON file)")
    assert table_problem(64, 65) is None
