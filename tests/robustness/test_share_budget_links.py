"""Share links that named minutes and gigabytes of work are refused at once, with the largest allowed value;
a network at the edge of the budget traces in about a second and a bounded amount of memory.

The crafted links are built here by hand (JSON → zlib → base64url) because encode_spec itself refuses them.
"""
from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from engine.inspector.share import decode_spec
from engine.inspector.spec import NetworkSpec, SpecError
from engine.inspector.steps import run_steps

ROOT = Path(__file__).parents[2]
PAGE = str(ROOT / "pages" / "inspector.py")
RELU = {"activation": "relu"}


def _link(d: dict) -> str:
    packed = zlib.compress(json.dumps(d, separators=(",", ":")).encode(), 9)
    return "b1." + base64.urlsafe_b64encode(packed).decode().rstrip("=")


# the issue's two links: 4096 → 480 → 4 at batch 4096 (14 s, 4.4 GB) and 12 × 400 at batch 4096 (> 240 s, 5 GB)
WIDE = {"input_size": 4096, "layers": [{"units": 480, **RELU}, {"units": 4, "activation": "identity"}],
        "batch": 4096}
DEEP = {"input_size": 400, "layers": [{"units": 400, **RELU}] * 11 + [{"units": 400, "activation": "identity"}],
        "batch": 4096}
DEEP8 = {**DEEP, "layers": DEEP["layers"][-8:]}


@pytest.mark.parametrize("spec, expected", [
    # W: 4096·480 + 480·4 = 1,968,000; + biases 484 = 1,968,484 parameters; 8 B × 8 copies each is 126 MB > 100 MB
    (WIDE, "the network has 1,968,484 parameters; the Inspector allows 1,562,500 in float64"),
    # 12 × (400·400 + 400) = 1,924,800 parameters: over the same allowance, whatever the batch
    (DEEP, "the network has 1,924,800 parameters; the Inspector allows 1,562,500 in float64"),
    # 8 layers: 8 × 160,000 = 1,280,000 weights; 4096 rows × that = 5.24 G multiply-adds; 1e8 // 1,280,000 = 78
    (DEEP8, "batch 4,096 × 1,280,000 weights is 5.24 G multiply-adds; the Inspector allows 100 M — use batch ≤ 78"),
])
def test_the_issues_links_are_refused_fast_with_the_largest_allowed_value(spec, expected):
    code = _link(spec)
    assert len(code) < 140  # a short link, as in the issue
    start = time.perf_counter()
    with pytest.raises(SpecError) as info:
        decode_spec(code)
    assert time.perf_counter() - start < 1.0
    assert expected in str(info.value)
    assert "\n" not in str(info.value)


def test_the_page_refuses_the_link_in_one_line_and_shows_the_default_example():
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.query_params["spec"] = _link(DEEP8)
    start = time.perf_counter()
    at.run()
    assert time.perf_counter() - start < 10  # the old page took over 240 s; this is the whole page's first run
    assert not at.exception
    errors = [e.value for e in at.error]
    assert any("use batch ≤ 78" in e for e in errors), errors


def test_activations_name_the_largest_batch():
    # widths 4096 + 4 + 4 = 4104; 2,000,000 // 4104 = 487 rows; multiply-adds at 487 rows: 487·16,400 ≈ 8 M (fits)
    d = {"input_size": 4096, "layers": [{"units": 4, **RELU}, {"units": 4, "activation": "identity"}]}
    NetworkSpec.from_dict({**d, "batch": 487})
    with pytest.raises(SpecError, match="is 2 M activations; the Inspector allows 2 M — use batch ≤ 487"):
        NetworkSpec.from_dict({**d, "batch": 488})


# 1000 → 1000 → 10: 1,010,000 weights; 99 rows = 99,990,000 multiply-adds (≤ 1e8), 100 rows = 101,000,000
EDGE = {"input_size": 1000, "layers": [{"units": 1000, **RELU}, {"units": 10, "activation": "identity"}]}


def test_the_budget_edge_is_inclusive():
    NetworkSpec.from_dict({**EDGE, "batch": 99})
    with pytest.raises(SpecError, match="use batch ≤ 99"):
        NetworkSpec.from_dict({**EDGE, "batch": 100})


MEASURE = """
import json, resource, sys, time
import torch
torch.set_num_threads(2)
from engine.inspector.trace import trace
from engine.inspector.spec import NetworkSpec
trace(NetworkSpec.from_dict({"input_size": 2, "layers": [{"units": 2}], "batch": 2}))  # warm: imports, kernels
start = time.perf_counter()
if sys.argv[1] != "none":
    trace(NetworkSpec.from_dict(json.loads(sys.argv[1])))
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _measure(arg: str) -> dict:
    out = subprocess.run([sys.executable, "-c", MEASURE, arg], cwd=ROOT, capture_output=True, text=True,
                         timeout=120, check=True)
    return json.loads(out.stdout)


@pytest.mark.parametrize("spec", [{**EDGE, "batch": 99}, {**DEEP8, "batch": 78}], ids=["wide-edge", "deep-edge"])
def test_a_spec_at_the_edge_traces_in_bounded_time_and_memory(spec):
    """Peak RSS of a process that traces the spec, less that of the same process without the trace."""
    base, got = _measure("none"), _measure(json.dumps(spec))
    growth = got["peak_mb"] - base["peak_mb"]
    print(f"edge trace: {got['seconds']:.2f} s, peak RSS {got['peak_mb']:.0f} MB (+{growth:.0f} MB over "
          f"{base['peak_mb']:.0f} MB without the trace)")
    assert growth < 200
    assert got["seconds"] < 5  # ~0.3–1 s measured on 2 shared cores; generous for a loaded CI machine


def test_the_step_tab_budgets_steps_times_work():
    spec = NetworkSpec.from_dict({**EDGE, "batch": 99})  # 99,990,000 multiply-adds per pass: 3 steps allowed
    with pytest.raises(ValueError, match="4 steps × 100 M multiply-adds is 400 M; the Inspector allows 300 M — "
                                         "use steps ≤ 3"):
        run_steps(spec, "sgd", 0.1, 4)


# 4096 → 4 → 4 at batch 487: 16,408 parameters (under finite differences' 20,000) and within the trace budget,
# but 2·487·(4 + 16,384 + 4,096 + 4 + 16 + 4 + 4) = 19,978,688 perturbed rows: the trace took 40–90 s
TALL = {"input_size": 4096, "layers": [{"units": 4, **RELU}, {"units": 4, "activation": "identity"}], "batch": 487}


def test_finite_differences_are_skipped_with_a_reason_when_their_rows_are_too_many():
    from engine.inspector.trace import trace

    start = time.perf_counter()
    t = trace(NetworkSpec.from_dict(TALL))
    assert time.perf_counter() - start < 10  # was 40–90 s on this machine
    # 2,000,000 // (19,978,688 // 487 = 41,024 rows per sample) = 48
    assert t.numerical_note == ("finite differences skipped: 19,978,688 perturbed copies of a row "
                                "(limit 2,000,000); use batch ≤ 48")
    assert all(g.numerical is None for lt in t.layers for g in lt.grads.values())
