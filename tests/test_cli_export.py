"""`python -m engine export`: writes the program to stdout or -o FILE; every bad input is one line and exit 2."""
from __future__ import annotations

import json

import pytest

from engine.cli import main


def _export(capsys, *args: str) -> tuple[int, str, str]:
    try:
        code = main(["export", *args])
    except SystemExit as exit_:  # argparse's errors (OneLineParser) exit 2 after one line
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


def test_stdout_and_file_hold_the_same_program(capsys, tmp_path):
    code, out, _ = _export(capsys, "--preset", "line", "--format", "py")
    assert code == 0 and out.startswith('"""Backprop Lab export: line')
    target = tmp_path / "line.py"
    code, _, err = _export(capsys, "--preset", "line", "--format", "py", "-o", str(target))
    assert code == 0 and target.read_text() == out
    assert err.startswith(f"wrote {target}")


def test_notebook_from_a_spec_file(capsys, tmp_path):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"input_size": 2, "layers": [{"units": 3, "activation": "tanh"}, {"units": 1}]}))
    code, out, _ = _export(capsys, "--spec", str(spec), "--format", "ipynb")
    assert code == 0 and json.loads(out)["nbformat"] == 4


@pytest.mark.parametrize("args, message", [
    ((), "one of the arguments --spec --preset is required"),
    (("--preset", "nope"), "invalid choice: 'nope'"),
    (("--preset", "line", "--spec", "x.json"), "not allowed with argument"),
    (("--preset", "line", "--format", "pdf"), "invalid choice: 'pdf'"),
    (("--spec", "/no/such/spec.json"), "spec file not found"),
    (("--spec", "/dev/zero"), "not a regular file"),
    (("--spec", "{bad}"), "spec file not found"),
    (("--preset", "line", "-o", "/no/such/folder/net.py"), "cannot write /no/such/folder/net.py"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, args, message):
    code, out, err = _export(capsys, *args)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err, err


@pytest.mark.parametrize("content, message", [
    ("{not json", "not valid JSON"),
    ('{"input_size": 2, "layers": [{"units": 0}]}', "layer 1"),
    ('{"input_size": 3, "layers": [{"units": 400}, {"units": 400}, {"units": 1}], "batch": 2}',
     "an export writes out at most 100,000"),
])
def test_bad_spec_files(capsys, tmp_path, content, message):
    spec = tmp_path / "spec.json"
    spec.write_text(content)
    code, out, err = _export(capsys, "--spec", str(spec))
    assert code == 2 and out == "" and err.count("\n") == 1 and message in err, err


def test_output_folder_is_refused(capsys, tmp_path):
    code, _, err = _export(capsys, "--preset", "line", "-o", str(tmp_path))
    assert code == 2 and "is a folder; give a file name" in err


def test_a_residual_blocks_inner_weights_count_toward_the_limit(capsys, tmp_path):
    """3 → 300 → block[300 → 300 → 300] → 1: 1 200 + 2 · 90 300 + 301 = 182 101 parameters, x 2·3, y 2·1."""
    block = {"type": "residual", "layers": [{"units": 300}, {"units": 300, "activation": "identity"}]}
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"input_size": 3, "layers": [{"units": 300}, block, {"units": 1}], "batch": 2}))
    code, out, err = _export(capsys, "--spec", str(spec))
    assert code == 2 and out == "" and "182,109 weights and data values" in err, err
