"""`python -m engine train` and `python -m engine runs`: the JSON contract tools rely on, per-epoch lines,
and one clear line (exit 2) for bad arguments."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli import main
from engine.settings import PROJECT_ROOT
from engine.store.runs import RunStore

MOONS = ["train", "--dataset", "moons", "--n-samples", "200", "--layers", "16:relu,2:identity", "--loss",
         "cross_entropy", "--optimizer", "sgd", "--lr", "0.1", "--batch-size", "32", "--epochs", "2"]


def run_main(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_json_output_has_the_documented_keys(tmp_path: Path, capsys):
    store = tmp_path / "runs.sqlite"
    code, out, _ = run_main(capsys, *MOONS, "--json", "--store", str(store))
    assert code == 0
    result = json.loads(out)
    assert {"run_id", "status", "device", "config", "epochs", "test_accuracy"} <= set(result)
    assert "parameters" not in result
    assert result["status"] == "finished" and result["device"] == "cpu" and result["test_accuracy"] is None
    assert result["config"]["lr"] == 0.1 and result["config"]["batch_size"] == 32
    assert [e["epoch"] for e in result["epochs"]] == [1, 2]
    for e in result["epochs"]:
        assert set(e) == {"epoch", "train_loss", "val_loss", "val_accuracy", "seconds"}
        assert e["train_loss"] > 0 and e["val_loss"] > 0 and 0 <= e["val_accuracy"] <= 1 and e["seconds"] >= 0
    stored = RunStore(store)
    assert stored.run(result["run_id"])["status"] == "finished"
    assert list(stored.epochs([result["run_id"]])["train_loss"]) == [e["train_loss"] for e in result["epochs"]]


def test_dump_params_gives_every_layers_weight_and_bias(capsys):
    code, out, _ = run_main(capsys, *MOONS, "--layers", "16:relu,8:tanh,2:identity", "--json", "--no-store",
                            "--dump-params")
    assert code == 0
    result = json.loads(out)
    assert result["run_id"] is None
    layers = result["parameters"]["layers"]
    shapes = [(len(p["weight"]), len(p["weight"][0]), len(p["bias"])) for p in layers]
    assert shapes == [(16, 2, 16), (8, 16, 8), (2, 8, 2)]  # W_l (out, in), b_l (out,)


def test_regression_through_the_cli_learns_the_true_parameters(capsys):
    code, out, _ = run_main(capsys, "train", "--dataset", "regression", "--n-samples", "1000", "--noise", "0.01",
                            "--true-w", "2,-3.4", "--true-b", "4.2", "--layers", "1:identity", "--loss", "mse",
                            "--optimizer", "sgd", "--lr", "0.03", "--batch-size", "10", "--epochs", "3",
                            "--val-fraction", "0", "--no-store", "--json", "--dump-params")
    result = json.loads(out)
    assert code == 0 and result["epochs"][-1]["train_loss"] < 1e-3 and result["epochs"][-1]["val_loss"] is None
    layer = result["parameters"]["layers"][0]
    assert layer["weight"][0] == pytest.approx([2.0, -3.4], abs=0.01)
    assert layer["bias"][0] == pytest.approx(4.2, abs=0.01)


def test_no_store_writes_no_store_file(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setenv("BACKPROP_LAB_HOME", str(tmp_path))
    monkeypatch.delenv("BACKPROP_LAB_STORE", raising=False)
    code, out, _ = run_main(capsys, *MOONS, "--epochs", "1", "--no-store", "--json")
    assert code == 0 and json.loads(out)["status"] == "finished"
    assert not list(tmp_path.rglob("*.sqlite"))


def test_without_json_it_prints_one_line_per_epoch(tmp_path: Path, capsys):
    code, out, _ = run_main(capsys, *MOONS, "--epochs", "3", "--store", str(tmp_path / "r.sqlite"))
    assert code == 0
    lines = out.splitlines()
    epoch_lines = [line for line in lines if line.startswith("epoch")]
    assert [line.split()[1] for line in epoch_lines] == ["1", "2", "3"]
    assert all("train_loss" in line and "val_loss" in line and "val_acc" in line for line in epoch_lines)
    assert lines[-1].startswith("finished:")


def test_max_steps_and_a_diverged_run_exit_codes(capsys):
    code, out, _ = run_main(capsys, *MOONS, "--epochs", "50", "--max-steps", "3", "--no-store", "--json")
    assert code == 0 and json.loads(out)["status"] == "finished" and len(json.loads(out)["epochs"]) == 1
    code, out, _ = run_main(capsys, "train", "--dataset", "regression", "--n-samples", "100", "--layers", "1:identity",
                            "--loss", "mse", "--init", "normal", "--lr", "100", "--batch-size", "10", "--epochs", "2",
                            "--no-store", "--json")
    result = json.loads(out)
    assert code == 1 and result["status"] == "diverged" and "smaller learning rate" in result["message"]


@pytest.mark.parametrize("change,message", [
    (["--layers", "0:relu"], "layer 1 has 0 units"),
    (["--optimizer", "foo"], "unknown optimizer 'foo'"),
    (["--lr", "0"], "learning rate must be > 0"),
    (["--layers", "16:relu,3:identity"], "3 units but moons has 2 classes"),
    (["--loss", "bce"], "make the last layer 'sigmoid'"),
    (["--val-fraction", "0.9"], "val_fraction must be 0–0.5"),
    (["--dataset", "regression"], "use the mse loss"),
])
def test_a_bad_setting_exits_2_with_one_line(capsys, change, message):
    code, out, err = run_main(capsys, *MOONS, "--no-store", *change)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err


@pytest.mark.parametrize("change,message", [
    (["--batch-size", "x"], "batch size must be a whole number or 'full'"),
    (["--dataset", "imagenet"], "invalid choice: 'imagenet'"),
    (["--lr", "fast"], "--lr: invalid float value"),
    (["--true-w", "2,x"], "comma-separated numbers"),
])
def test_an_unparseable_argument_exits_2_with_one_line(capsys, change, message):
    with pytest.raises(SystemExit) as exit_:
        main([*MOONS, "--no-store", *change])
    _, err = capsys.readouterr()
    assert exit_.value.code == 2
    assert err.count("\n") == 1 and message in err


def _cli(*argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    return subprocess.run([sys.executable, "-m", "engine", *argv], env=env, cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=120)


def test_the_module_entry_point_prints_json(tmp_path: Path, capsys):
    proc = _cli(*MOONS, "--json", "--store", str(tmp_path / "runs.sqlite"))
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["status"] == "finished" and len(result["epochs"]) == 2
    code, out, _ = run_main(capsys, "runs", "list", "--json", "--store", str(tmp_path / "runs.sqlite"))
    assert code == 0
    rows = json.loads(out)
    assert [r["run_id"] for r in rows] == [result["run_id"]] and rows[0]["summary"]["epochs_done"] == 2


@pytest.mark.parametrize("change", [["--layers", "0:relu"], ["--batch-size", "x"]])
def test_the_module_entry_point_rejects_bad_arguments_without_a_traceback(change):
    proc = _cli(*MOONS, "--no-store", *change)
    assert proc.returncode == 2 and proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_runs_cli_lists_renames_and_deletes(tmp_path: Path, capsys):
    store = str(tmp_path / "runs.sqlite")
    assert run_main(capsys, "runs", "list", "--store", store)[1].strip() == "no stored runs"
    run_id = json.loads(run_main(capsys, *MOONS, "--epochs", "1", "--json", "--store", store)[1])["run_id"]
    assert run_main(capsys, "runs", "rename", run_id, "renamed", "--store", store)[0] == 0
    code, out, _ = run_main(capsys, "runs", "--store", store)
    assert code == 0 and run_id in out and "renamed" in out and "finished" in out
    code, _, err = run_main(capsys, "runs", "rename", run_id, "--store", store)
    assert code == 2 and "rename takes RUN_ID NEW_NAME" in err
    assert run_main(capsys, "runs", "delete", run_id, "--store", store)[1].strip() == "deleted 1 run(s)"
    assert json.loads(run_main(capsys, "runs", "list", "--json", "--store", store)[1]) == []


def test_csv_dataset_through_the_cli(tmp_path: Path, capsys):
    """A CSV named on the command line: y = 3·x1 − 2·x2 + 1 exactly, so a linear layer must find (3, −2, 1)
    in the raw units (standardisation off) and the loss must fall to ~0."""
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 2))
    path = tmp_path / "plane.csv"
    rows = ["x1,x2,y"] + [f"{a},{b},{3 * a - 2 * b + 1}" for a, b in x]
    path.write_text("\n".join(rows) + "\n")
    code, out, _ = run_main(capsys, "train", "--dataset", "csv", "--csv", str(path), "--target", "y",
                            "--no-standardize", "--layers", "1:identity", "--loss", "mse", "--optimizer", "sgd",
                            "--lr", "0.1", "--batch-size", "20", "--epochs", "20", "--val-fraction", "0.25",
                            "--no-store", "--json", "--dump-params")
    assert code == 0
    result = json.loads(out)
    assert result["epochs"][-1]["val_loss"] < 1e-6
    (layer,) = result["parameters"]["layers"]
    assert layer["weight"][0] == pytest.approx([3.0, -2.0], abs=1e-3)
    assert layer["bias"][0] == pytest.approx(1.0, abs=1e-3)


def test_csv_with_a_missing_target_column_is_one_clear_line(tmp_path: Path, capsys):
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1,2\n3,4\n")
    code, out, err = run_main(capsys, "train", "--dataset", "csv", "--csv", str(path), "--target", "nope",
                              "--layers", "1:identity", "--loss", "mse", "--lr", "0.1", "--no-store")
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "nope" in err and "Traceback" not in err


def test_mnist_dir_of_idx_files_through_the_cli(tmp_path: Path, capsys):
    """--mnist-dir with the four IDX files (here small ones the test writes): the run reads them, trains, and
    reports the accuracy on that folder's test images."""
    from tests.test_mnist import tiny_mnist, write_idx_dir

    write_idx_dir(tmp_path / "idx", tiny_mnist(n_train=64, n_test=16), gz=True)
    code, out, _ = run_main(capsys, "train", "--dataset", "mnist", "--mnist-dir", str(tmp_path / "idx"),
                            "--layers", "10:identity", "--loss", "cross_entropy", "--lr", "0.1", "--batch-size",
                            "16", "--epochs", "1", "--val-fraction", "0", "--no-store", "--json")
    assert code == 0
    result = json.loads(out)
    assert result["status"] == "finished" and result["config"]["mnist_dir"] == str(tmp_path / "idx")
    assert result["test_accuracy"] is not None and 0.0 <= result["test_accuracy"] <= 1.0


def test_layers_help_names_every_kind(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps the help
    for syntax in ("bn or bn:ACTIVATION", "ln (layernorm)", "drop0.2", "res[…]:ACTIVATION"):
        assert syntax in out
