"""`python -m engine inspect`: the CLI contract of issue 2 (keys, numbers, exit status, one-line errors)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from engine.cli import main

ROOT = Path(__file__).parents[1]
GRAD_KEYS = ("weight", "bias", "z", "a")
LAYER_KEYS = ("index", "activation", "weight", "bias", "z", "a", "max_abs_error", "grads")


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


def _inspect(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["inspect", *args])
    out, err = capsys.readouterr()
    return code, out, err


def _strict_json(text: str) -> dict:
    def refuse(name):
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


def _check_contract(d: dict, n_layers: int) -> None:
    for key in ("loss", "x", "y", "agree", "layers"):
        assert key in d, key
    assert isinstance(d["agree"], bool) and isinstance(d["loss"], float)
    assert [layer["index"] for layer in d["layers"]] == list(range(1, n_layers + 1))
    for layer in d["layers"]:
        for key in LAYER_KEYS:
            assert key in layer, key
        for g in GRAD_KEYS:
            for source in ("manual", "autograd", "numerical"):
                assert source in layer["grads"][g], (g, source)


# ---- subprocess: the real entry point ----

def test_subprocess_preset_line_json():
    proc = _cli("inspect", "--preset", "line", "--json")
    assert proc.returncode == 0, proc.stderr
    d = _strict_json(proc.stdout)
    _check_contract(d, 1)
    assert d["loss"] == 49.0
    assert d["agree"] is True
    layer = d["layers"][0]
    assert layer["index"] == 1 and layer["activation"] == "identity"
    assert layer["weight"] == [[1.0]] and layer["bias"] == [1.0]
    assert layer["z"] == [[3.0]] and layer["a"] == [[3.0]]
    assert layer["grads"]["weight"]["manual"] == [[-28.0]]
    assert layer["grads"]["weight"]["autograd"] == [[-28.0]]
    assert layer["grads"]["weight"]["numerical"][0][0] == pytest.approx(-28.0, abs=1e-6)
    assert layer["grads"]["bias"]["manual"] == [-14.0]
    assert layer["grads"]["z"]["manual"] == [[-14.0]]  # grads.z is δ = ∂L/∂z
    assert d["x"] == [[2.0]] and d["y"] == [[10.0]]


def test_subprocess_bad_spec_exits_2_with_one_line(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"input_size": 3, "layers": [{"units": 0, "activation": "relu"}]}))
    proc = _cli("inspect", "--spec", str(path), "--json")
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert "layer 1 has 0 units" in lines[0]


def test_subprocess_text_mode_flags():
    proc = _cli("inspect", "--input-size", "3", "--layers", "4:relu,2:identity", "--loss", "mse", "--batch", "2",
                "--seed", "0", "--dtype", "float64")
    assert proc.returncode == 0, proc.stderr
    assert "layer 1: relu" in proc.stdout and "layer 2: identity" in proc.stdout
    assert "agree = True" in proc.stdout


# ---- in-process ----

def test_flags_json(capsys):
    code, out, err = _inspect(capsys, "--input-size", "3", "--layers", "4:relu,2:identity", "--loss", "mse",
                              "--batch", "2", "--seed", "0", "--dtype", "float64", "--json")
    assert code == 0 and err == ""
    d = _strict_json(out)
    _check_contract(d, 2)
    assert [layer["activation"] for layer in d["layers"]] == ["relu", "identity"]
    assert len(d["x"]) == 2 and len(d["x"][0]) == 3
    assert len(d["layers"][0]["weight"]) == 4 and len(d["layers"][0]["weight"][0]) == 3
    assert len(d["layers"][1]["grads"]["weight"]["manual"]) == 2
    assert d["agree"] is True
    # the loss matches torch on the printed numbers
    x = torch.tensor(d["x"], dtype=torch.float64)
    h = torch.relu(x @ torch.tensor(d["layers"][0]["weight"], dtype=torch.float64).T
                   + torch.tensor(d["layers"][0]["bias"], dtype=torch.float64))
    out_ = h @ torch.tensor(d["layers"][1]["weight"], dtype=torch.float64).T \
        + torch.tensor(d["layers"][1]["bias"], dtype=torch.float64)
    assert d["loss"] == pytest.approx(F.mse_loss(out_, torch.tensor(d["y"], dtype=torch.float64)).item(), rel=1e-12)


def test_flags_same_seed_same_output(capsys):
    args = ("--layers", "3:tanh,2:identity", "--seed", "5", "--json")
    _, first, _ = _inspect(capsys, *args)
    _, second, _ = _inspect(capsys, *args)
    assert first == second
    _, other, _ = _inspect(capsys, "--layers", "3:tanh,2:identity", "--seed", "6", "--json")
    assert json.loads(other)["x"] != json.loads(first)["x"]


def test_spec_file_with_explicit_values(tmp_path, capsys):
    spec = {"input_size": 2,
            "layers": [{"units": 2, "activation": "tanh", "weight": [[0.5, -1.0], [2.0, 0.25]], "bias": [0.1, -0.2]},
                       {"units": 1, "activation": "identity", "weight": [[1.5, -0.5]], "bias": [0.3]}],
            "loss": "mse", "init": "kaiming", "seed": 0, "dtype": "float64",
            "x": [[1.0, 2.0], [-1.0, 0.5]], "y": [[1.0], [0.0]]}
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    code, out, _ = _inspect(capsys, "--spec", str(path), "--json")
    assert code == 0
    d = _strict_json(out)
    _check_contract(d, 2)
    assert d["x"] == spec["x"] and d["y"] == spec["y"]
    assert d["layers"][0]["weight"] == spec["layers"][0]["weight"]
    # independent autograd on the file's numbers
    params = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in
              (spec["layers"][0]["weight"], spec["layers"][0]["bias"], spec["layers"][1]["weight"],
               spec["layers"][1]["bias"])]
    x = torch.tensor(spec["x"], dtype=torch.float64)
    out_ = torch.tanh(x @ params[0].T + params[1]) @ params[2].T + params[3]
    loss = F.mse_loss(out_, torch.tensor(spec["y"], dtype=torch.float64))
    loss.backward()
    assert d["loss"] == pytest.approx(loss.item(), rel=1e-14)
    for (li, name), p in zip([(0, "weight"), (0, "bias"), (1, "weight"), (1, "bias")], params, strict=True):
        got = torch.tensor(d["layers"][li]["grads"][name]["manual"], dtype=torch.float64)
        torch.testing.assert_close(got, p.grad, rtol=1e-12, atol=1e-14)
    assert d["agree"] is True


def test_spec_file_cross_entropy_class_indices(tmp_path, capsys):
    spec = {"input_size": 2,
            "layers": [{"units": 3, "activation": "identity", "weight": [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]],
                        "bias": [0.0, 0.0, 0.0]}],
            "loss": "cross_entropy", "x": [[1.0, 2.0], [0.5, -1.0]], "y": [2, 0]}
    path = tmp_path / "ce.json"
    path.write_text(json.dumps(spec))
    code, out, _ = _inspect(capsys, "--spec", str(path), "--json")
    assert code == 0
    d = _strict_json(out)
    assert d["y"] == [2, 0]
    z = torch.tensor([[1.0, 2.0, 3.0], [0.5, -1.0, -0.5]], dtype=torch.float64)  # x Wᵀ by hand
    assert d["layers"][0]["z"] == z.tolist()
    expected_delta = (torch.softmax(z, dim=1) - torch.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]],
                                                             dtype=torch.float64)) / 2
    torch.testing.assert_close(torch.tensor(d["layers"][0]["grads"]["z"]["manual"], dtype=torch.float64),
                               expected_delta, rtol=1e-12, atol=1e-15)
    assert d["loss"] == pytest.approx(F.cross_entropy(z, torch.tensor([2, 0])).item(), rel=1e-14)
    assert d["agree"] is True


def test_text_mode_table_mentions_each_layer(capsys):
    code, out, _ = _inspect(capsys, "--preset", "linear-chain")
    assert code == 0
    for i in (1, 2, 3):
        assert f"layer {i}: identity" in out
    for label in ("dL/dW", "dL/db", "manual", "autograd", "numerical"):
        assert label in out
    assert "agree = True" in out


@pytest.mark.parametrize("name", ["line", "two-layer", "linear-chain", "single-step"])
def test_every_preset_runs(capsys, name):
    code, out, _ = _inspect(capsys, "--preset", name, "--json")
    assert code == 0 and _strict_json(out)["agree"] is True


def test_no_numerical_flag(capsys):
    code, out, _ = _inspect(capsys, "--preset", "line", "--json", "--no-numerical")
    d = _strict_json(out)
    assert code == 0 and d["layers"][0]["grads"]["weight"]["numerical"] is None and d["numerical_note"]


BAD_FLAGS = [
    (["--layers", "0:relu"], "0 units"),
    (["--layers", "4:swish"], "unknown activation"),
    (["--layers", "4:softmax,2:identity"], "softmax is only allowed"),
    (["--layers", "four"], "not UNITS:ACTIVATION"),
    (["--loss", "bce"], "sigmoid"),
    (["--batch", "5000"], "batch must be"),
    (["--dtype", "float16"], "unknown dtype"),
    (["--layers", ",".join(["2:relu"] * 13)], "layers"),
]


@pytest.mark.parametrize(("args", "needle"), BAD_FLAGS, ids=[n for _, n in BAD_FLAGS])
def test_bad_flags_exit_2_with_one_line(capsys, args, needle):
    code, out, err = _inspect(capsys, *args)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("error: ") and needle in err


BAD_FILES = [
    ("not json", "{input_size: 3", "not valid JSON"),
    ("nan in x", '{"input_size": 1, "layers": [{"units": 1}], "x": [[NaN]]}', "NaN"),
    ("wrong y", '{"input_size": 1, "layers": [{"units": 1}], "x": [[1.0]], "y": [[1.0, 2.0]]}', "y must"),
    ("class out of range", '{"input_size": 1, "layers": [{"units": 2, "activation": "identity"}], '
                           '"loss": "cross_entropy", "x": [[1.0]], "y": [2]}', "class indices"),
    ("unknown field", '{"input_size": 1, "layers": [{"units": 1}], "lr": 1}', "unknown field"),
    ("x a number", '{"input_size": 1, "layers": [{"units": 1}], "x": 5}', "x must"),
    ("activation a list", '{"input_size": 1, "layers": [{"units": 1, "activation": ["relu"]}]}', "activation"),
    ("bad utf-8", b"\xff\xfe{", ""),
]


@pytest.mark.parametrize(("case", "content", "needle"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_spec_files_exit_2_with_one_line(tmp_path, capsys, case, content, needle):
    path = tmp_path / "spec.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    code, out, err = _inspect(capsys, "--spec", str(path))
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert needle in err


def test_missing_spec_file(tmp_path, capsys):
    code, _, err = _inspect(capsys, "--spec", str(tmp_path / "nope.json"))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "nope.json" in err


def test_json_output_is_strict_json_even_when_values_overflow(tmp_path, capsys):
    path = tmp_path / "big.json"
    path.write_text('{"input_size": 1, "layers": [{"units": 1, "activation": "identity", "weight": [[1e200]]}],'
                    ' "x": [[1e200]], "y": [[0.0]]}')
    code, out, _ = _inspect(capsys, "--spec", str(path), "--json")
    assert code == 0  # an overflowing network is still a valid spec: it is traced, not refused
    data = _strict_json(out)
    # z = 1e200 · 1e200 overflows to inf, written as null; the check says the gradients are not right
    assert data["loss"] is None and data["layers"][0]["z"] == [[None]] and data["agree"] is False
