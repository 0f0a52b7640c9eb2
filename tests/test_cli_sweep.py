"""`python -m engine sweep`: the sweep id and one line per run; --json; bad arguments exit 2 with one line."""
from __future__ import annotations

import json

import pytest

from engine.cli import main
from engine.store.runs import RunStore

ARGS = ["sweep", "--dataset", "moons", "--n-samples", "120", "--layers", "8:relu,2:identity", "--epochs", "1"]


def test_sweep_prints_its_id_and_one_line_per_run(tmp_path, capsys):
    store = tmp_path / "runs.sqlite"
    assert main([*ARGS, "--optimizers", "sgd,adam", "--lrs", "0.01,0.1", "--store", str(store)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    sweep_id = lines[0].split()[1].rstrip(":")
    assert lines[0] == f"sweep {sweep_id}: 4 runs, executor local"
    assert [line.split()[0] for line in lines[1:]] == ["[1/4]", "[2/4]", "[3/4]", "[4/4]"]
    runs = RunStore(store).runs(sweep_id=sweep_id)
    assert len(runs) == 4 and set(runs["status"]) == {"finished"}
    for line, row in zip(lines[1:], runs.itertuples(), strict=True):
        assert row.run_id in line and row.name in line and "finished" in line
        assert f"val_loss {runs.loc[row.Index, 'summary.final_val_loss']:.4f}" in line


def test_json_output(tmp_path, capsys):
    assert main([*ARGS, "--seeds", "0,1", "--store", str(tmp_path / "r.sqlite"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["executor"] == "local" and out["sweep_id"].startswith("sw-")
    assert [(r["seed"], r["status"]) for r in out["runs"]] == [(0, "finished"), (1, "finished")]


@pytest.mark.parametrize("extra, message", [
    (["--lrs", "0.1,x"], "--lrs: expected comma-separated values"),
    (["--optimizers", "sgdd"], "unknown optimizer 'sgdd'"),
    (["--executor", "slurm"], "invalid choice: 'slurm'"),
    (["--ray-address", "1.2.3.4:6379"], "--ray-address needs --executor ray"),
])
def test_bad_arguments_exit_2_with_one_line(tmp_path, capsys, extra, message):
    with pytest.raises(SystemExit) as exit_info:
        code = main([*ARGS, "--store", str(tmp_path / "r.sqlite"), *extra])
        raise SystemExit(code)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err


def test_inits_nesterov_and_val_fraction_reach_every_run(tmp_path, capsys):
    # choosing the MNIST preset sweeps init too, with Nesterov momentum and the preset's validation split
    args = [*ARGS, "--inits", "kaiming,torch", "--lrs", "0.05", "--momentum", "0.9", "--nesterov",
            "--lr-schedules", "cosine",
            "--val-fraction", "0.25", "--store", str(tmp_path / "r.sqlite"), "--json"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["init"] for r in out["runs"]] == ["kaiming", "torch"]
    assert [r["name"] for r in out["runs"]] == ["init=kaiming", "init=torch"]
    configs = RunStore(tmp_path / "r.sqlite").runs(sweep_id=out["sweep_id"])
    assert set(configs["config.nesterov"]) == {True} and set(configs["config.val_fraction"]) == {0.25}
    assert set(configs["config.lr_schedule"]) == {"cosine"}


def test_lr_schedules_are_a_grid_axis(tmp_path, capsys):
    assert main([*ARGS, "--lr-schedules", "constant,cosine", "--store", str(tmp_path / "r.sqlite"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [(r["lr_schedule"], r["name"]) for r in out["runs"]] == [("constant", "sched=constant"),
                                                                    ("cosine", "sched=cosine")]
