"""`python -m engine runs …` and the store it reads: a listing creates nothing, even through the default data
directory; a rename's name is capped like the pages' (80 characters) with one line and exit status 2."""
from __future__ import annotations

from pathlib import Path

from engine.cli import main
from engine.store.runs import RunStore


def test_listing_without_store_creates_no_data_directory(tmp_path: Path, monkeypatch, capsys):
    home = tmp_path / "missing" / "home"
    monkeypatch.setenv("BACKPROP_LAB_HOME", str(home))
    monkeypatch.delenv("BACKPROP_LAB_STORE", raising=False)
    assert main(["runs", "list"]) == 0
    assert main(["runs", "list", "--json"]) == 0
    out = capsys.readouterr().out
    assert "no stored runs" in out and "[]" in out
    assert not (tmp_path / "missing").exists()


def _one_run(path: Path) -> str:
    return RunStore(path).create_run({"dataset": "moons"}, device="cpu", name="first")


def test_rename_caps_the_name_at_80_characters_in_one_line(tmp_path: Path, capsys):
    path = tmp_path / "runs.sqlite"
    run_id = _one_run(path)
    assert main(["runs", "rename", run_id, "n" * 81, "--store", str(path)]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "80" in err and "81" in err, err
    assert RunStore(path).run(run_id)["name"] == "first"
    assert main(["runs", "rename", run_id, "n" * 80, "--store", str(path)]) == 0
    assert RunStore(path).run(run_id)["name"] == "n" * 80
