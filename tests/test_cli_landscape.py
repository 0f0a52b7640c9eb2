"""`python -m engine landscape`: the JSON contract of the issue, and one line (exit 2) for bad input."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest

from engine.cli import main
from engine.store.runs import RunStore
from tests.test_landscape import ADAM, SGD
from tests.test_replay import stored_run


@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli-landscape") / "runs.sqlite"
    store = RunStore(path)
    ids = [stored_run(store, SGD), stored_run(store, ADAM), stored_run(store, replace(SGD, layers="4:relu,2:identity"))]
    return path, ids


def test_json_has_the_issues_keys_and_shapes(store_path, capsys):
    path, ids = store_path
    assert main(["landscape", "--runs", ",".join(ids[:2]), "--plane", "endpoints", "--grid", "7", "--span", "1.3",
                 "--store", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["plane"]["kind"] == "endpoints" and "explained_variance" not in out["plane"]
    assert len(out["alpha"]) == 7 and len(out["beta"]) == 7
    assert len(out["loss"]) == len(out["beta"]) and all(len(row) == len(out["alpha"]) for row in out["loss"])
    assert [p["run_id"] for p in out["paths"]] == ids[:2]
    for p in out["paths"]:
        n = len(p["step"])
        assert {"run_id", "step", "alpha", "beta", "loss", "surface_loss", "projection_error"} <= set(p)
        assert all(len(p[k]) == n for k in ("alpha", "beta", "loss", "surface_loss", "projection_error"))
        assert p["step"][0] == 0 and p["step"][-1] == 15
        for i in (0, -1):
            assert p["projection_error"][i] < 1e-9 and p["surface_loss"][i] == pytest.approx(p["loss"][i], rel=1e-6)
    assert [s["kind"] for s in out["slices"]] == ["init_final", "init_final", "final_final"]


def test_pca_reports_its_explained_variance(store_path, capsys):
    path, ids = store_path
    assert main(["landscape", "--runs", ",".join(ids[:2]), "--plane", "pca", "--grid", "5", "--store", str(path),
                 "--json"]) == 0
    share = json.loads(capsys.readouterr().out)["plane"]["explained_variance"]
    assert len(share) == 2 and 0 < share[1] <= share[0] and sum(share) <= 1 + 1e-9


@pytest.mark.parametrize("runs,args,message", [
    ((0, 1), ["--grid", "2"], "grid must be 3–101 points a side, got 2"),
    ((0, 1), ["--span", "0.5"], "span must be 1–5"),
    ((0, 2), [], "differ in architecture (layers 8:relu,8:tanh,2:identity vs 4:relu,2:identity)"),
    ((0, None), [], "no run 'nope'"),
])
def test_bad_input_is_one_line_and_exit_2(store_path, capsys, runs, args, message):
    path, ids = store_path
    chosen = ",".join("nope" if i is None else ids[i] for i in runs)
    assert main(["landscape", "--runs", chosen, *args, "--store", str(path), "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and message in captured.err and captured.err.count("\n") == 1


def test_a_missing_store_is_one_line(tmp_path, capsys):
    assert main(["landscape", "--runs", "a,b", "--store", str(tmp_path / "none.sqlite")]) == 2
    assert "no run store at" in capsys.readouterr().err


def test_text_summary_names_the_plane_and_each_run(store_path, capsys):
    path, ids = store_path
    assert main(["landscape", "--runs", ",".join(ids[:2]), "--grid", "5", "--store", str(path)]) == 0
    out = capsys.readouterr().out
    assert "plane endpoints through the shared initial weights" in out and all(r in out for r in ids[:2])
