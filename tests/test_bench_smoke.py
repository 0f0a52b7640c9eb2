"""`python -m bench --quick` runs every row end to end and writes valid JSON. Never asserts a timing."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_bench_quick_prints_every_row_and_writes_json(tmp_path):
    from bench.__main__ import row_names

    out = tmp_path / "bench.json"
    done = subprocess.run([sys.executable, "-m", "bench", "--quick", "--repeats", "1", "--json", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    names = row_names()
    for row, name in names.items():
        assert name in done.stdout, f"row {row} ({name}) missing from the table"
    data = json.loads(out.read_text())
    assert {r["row"] for r in data["rows"]} == set(names)
    for r in data["rows"]:
        assert set(r) >= {"row", "name", "ours", "baseline", "ratio", "target", "met", "noise", "note"}
        assert not r["note"].startswith("error"), f"row {r['row']}: {r['note']}"
    assert data["meta"]["quick"] is True
