"""engine.export: the exported program runs alone (torch only) and reproduces `inspect --json`; a wrong manual
backward makes it fail; the notebook is valid nbformat 4 and executes; hand-worked numbers for the line preset.

The reference is the trace (`inspect --json`'s object, whose manual and autograd columns the trace tests hold to
torch autograd and finite differences) and, for the line preset, the numbers worked by hand."""
from __future__ import annotations

import ast
import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import torch
from nbclient import NotebookClient

from engine.core.layers import KINDS
from engine.core.ops import ACTIVATIONS, LOSSES
from engine.export import export
from engine.inspector.presets import preset
from engine.inspector.report import trace_to_dict
from engine.inspector.spec import LayerSpec, NetworkSpec
from engine.inspector.trace import trace

# A seeded set that covers every activation, loss and layer kind the engine has (asserted below, so a new one
# fails here until it is exported and tested).
NETWORKS = {
    "relu-tanh-mse": NetworkSpec(3, [LayerSpec(4, "relu"), LayerSpec(3, "tanh"), LayerSpec(2, "identity")],
                                 loss="mse", seed=1, batch=5),
    "leaky-sigmoid-ce": NetworkSpec(2, [LayerSpec(5, "leaky_relu"), LayerSpec(3, "sigmoid"), LayerSpec(3, "identity")],
                                    loss="cross_entropy", init="normal", seed=2, batch=4),
    "tanh-bce": NetworkSpec(4, [LayerSpec(3, "tanh"), LayerSpec(2, "sigmoid")], loss="bce", init="torch",
                               seed=3, batch=3),
    "softmax-out-sum": NetworkSpec(2, [LayerSpec(3, "identity"), LayerSpec(4, "softmax")], loss="sum", init="xavier",
                                   seed=4, batch=2),
    "norms-dropout-ce": NetworkSpec(3, [
        LayerSpec(5, "identity"), LayerSpec(type="batchnorm", activation="tanh"), LayerSpec(type="dropout", p=0.3),
        LayerSpec(type="layernorm", activation="relu"), LayerSpec(3, "identity")],
        loss="cross_entropy", init="torch", seed=5, batch=6),
    "nested-residual": NetworkSpec(3, [
        LayerSpec(4, "relu"),
        LayerSpec(type="residual", activation="relu", layers=[
            LayerSpec(4, "tanh"),
            LayerSpec(type="residual", layers=[LayerSpec(type="layernorm"), LayerSpec(4, "identity")]),
            LayerSpec(type="dropout", p=0.5)]),
        LayerSpec(2, "identity")], loss="mse", init="xavier", seed=6, batch=5),
}
TOL = 1e-10
HIDDEN = ("identity", "relu", "leaky_relu", "sigmoid", "tanh")  # softmax is for the output layer only
OUTPUT = {"mse": "tanh", "cross_entropy": "identity", "bce": "sigmoid", "sum": "softmax"}


def random_spec(seed: int) -> NetworkSpec:
    """A random stack of every kind (a residual block with random inner layers included), random activations,
    loss, init and batch, all drawn from `seed`."""
    rng = random.Random(seed)
    width = rng.randint(2, 4)

    def layer(inner: bool) -> LayerSpec:
        kind = rng.choice(["linear", "batchnorm", "layernorm", "dropout"] + ([] if inner else ["residual"]))
        act = rng.choice(HIDDEN)
        if kind == "linear":
            return LayerSpec(width, act)
        if kind == "residual":
            return LayerSpec(type="residual", activation=act, layers=[layer(True), LayerSpec(width, "identity")])
        options = {"p": rng.choice([0.0, 0.25, 0.5])} if kind == "dropout" else {}
        return LayerSpec(type=kind, activation=act, **options)

    loss = rng.choice(sorted(OUTPUT))
    layers = [LayerSpec(width, rng.choice(HIDDEN))] + [layer(False) for _ in range(3)]
    layers.append(LayerSpec(rng.randint(2, 3), OUTPUT[loss]))
    return NetworkSpec(rng.randint(1, 3), layers, loss=loss, init=rng.choice(["kaiming", "xavier", "torch"]),
                       seed=seed, batch=rng.randint(3, 5))


NETWORKS.update({f"random-{seed}": random_spec(seed) for seed in (11, 12)})


def _walk(layers: list[dict]):
    for layer in layers:
        yield layer
        yield from _walk(layer.get("layers", []))


def _layer_kinds(spec: NetworkSpec) -> set[str]:
    return {layer.type for top in spec.build_layers() for layer in top.flat()}


# Runs the program as __main__ after checking that engine cannot be imported (exit 3 if it can).
ALONE = ("import importlib.util, runpy, sys; sys.exit(3) if importlib.util.find_spec('engine') else None; "
         "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')")


def run_alone(source: str, tmp_path, *args: str) -> subprocess.CompletedProcess:
    """Run a program as a user would, where only torch is: isolated mode (no PYTHONPATH, no user site), a fresh
    folder as cwd, and engine provably not importable."""
    path = tmp_path / "network.py"
    path.write_text(source, encoding="utf-8")
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)}
    return subprocess.run([sys.executable, "-I", "-c", ALONE, str(path), *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=180)


def test_the_seeded_set_covers_every_activation_loss_and_kind():
    specs = NETWORKS.values()
    assert {layer.activation for s in specs for layer in s.layers} == set(ACTIVATIONS)
    assert {s.loss for s in specs} == set(LOSSES)
    assert set().union(*(_layer_kinds(s) for s in specs)) == set(KINDS)


@pytest.mark.parametrize("name", NETWORKS)
def test_exported_script_alone_reproduces_inspect_json(name, tmp_path):
    spec = NETWORKS[name]
    proc = run_alone(export(spec, "py"), tmp_path, "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout)
    want = trace_to_dict(trace(spec, numerical=False))
    assert got["agree"] is True
    assert abs(got["loss"] - want["loss"]) <= TOL * max(1.0, abs(want["loss"]))
    got_layers, want_layers = list(_walk(got["layers"])), list(_walk(want["layers"]))
    assert [g["index"] for g in got_layers] == [w["index"] for w in want_layers]
    for g, w in zip(got_layers, want_layers, strict=True):
        assert {"z", "a"} <= set(g["grads"]) and set(g["grads"]) <= set(w["grads"])
        for grad, pair in g["grads"].items():
            for source in ("manual", "autograd"):
                expected = torch.tensor(w["grads"][grad][source], dtype=torch.float64)
                actual = torch.tensor(pair[source], dtype=torch.float64)
                assert actual.shape == expected.shape, (g["index"], grad, source)
                bound = TOL * max(1.0, expected.abs().max().item())
                assert (actual - expected).abs().max().item() <= bound, (g["index"], grad, source)


def test_exported_script_imports_only_torch_json_and_sys():
    tree = ast.parse(export(NETWORKS["relu-tanh-mse"], "py"))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported == {"json", "sys", "torch", "torch.nn.functional"}


def test_run_alone_refuses_where_engine_is_importable(tmp_path, monkeypatch):
    """The guard in ALONE works: with the repository on PYTHONPATH (and without -I) it exits 3."""
    path = tmp_path / "noop.py"
    path.write_text("")
    proc = subprocess.run([sys.executable, "-c", ALONE, str(path)], cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}, timeout=60)
    assert proc.returncode == 3, proc.stderr


def test_line_preset_numbers_by_hand(tmp_path):
    # ŷ = 1·2 + 1 = 3; L = (3 − 10)² = 49; ∂L/∂ŷ = 2(ŷ − y) = −14; ∂L/∂W = −14·x = −28; ∂L/∂b = −14; ∂L/∂x = −14·W
    proc = run_alone(export(preset("line"), "py"), tmp_path, "--json")
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    assert got["loss"] == 49.0
    grads = got["layers"][0]["grads"]
    for source in ("manual", "autograd"):
        assert grads["weight"][source] == [[-28.0]]
        assert grads["bias"][source] == [-14.0]
        assert grads["z"][source] == grads["a"][source] == grads["input"][source] == [[-14.0]]


def test_a_broken_manual_backward_exits_nonzero(tmp_path):
    """Forgetting the 1/(B·k) of the mean in ∂L/∂a: every manual gradient is B·k times too large."""
    source = export(preset("two-layer"), "py")
    broken = source.replace("da2 = 2 * (a2 - y) / a2.numel()", "da2 = 2 * (a2 - y)")
    assert broken != source
    proc = run_alone(broken, tmp_path, "--json")
    assert proc.returncode == 1, proc.stderr
    got = json.loads(proc.stdout)
    assert got["agree"] is False
    assert not got["layers"][1]["grads"]["weight"]["agree"]


def test_notebook_is_valid_nbformat_4_and_holds_the_scripts_code():
    spec = preset("two-layer")
    nb = nbformat.reads(export(spec, "ipynb"), as_version=4)
    nbformat.validate(nb)
    assert nb.nbformat == 4
    script = export(spec, "py")
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    assert all(source in script for source in code)
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert r"\delta_{1}" in markdown and "$$" in markdown  # the equations, in LaTeX
    assert r"(4\times 2)" in markdown  # with this network's shapes: z_1 is (B, n_1) = (4, 2)


def test_notebook_executes(tmp_path):
    spec = preset("two-layer")
    nb = nbformat.reads(export(spec, "ipynb"), as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    printed = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    assert "agree = True" in printed
    assert f"loss = {trace(spec, numerical=False).loss:.10g}" in printed


def test_a_spec_name_cannot_break_out_of_the_docstring_or_the_markdown():
    name = 'x"""\nimport os; os.remove("f")  # <script>alert(1)</script> $x$'
    spec = NetworkSpec(1, [LayerSpec(1, "identity")], name=name)
    tree = ast.parse(export(spec, "py"))
    assert not any(isinstance(node, ast.Import) and node.names[0].name == "os" for node in ast.walk(tree))
    title = nbformat.reads(export(spec, "ipynb"), as_version=4).cells[0].source.splitlines()[2]
    assert title.startswith("Backprop Lab export: x") and not set('"<>$\n;') & set(title)


def test_notebook_equations_name_each_layers_real_input_after_residual_blocks():
    """residual preset: 1 linear, block 2 (inner 3, 4), block 5 (inner 6, 7), 8 linear. Layer 6 reads a_2 (its
    block's input), block 5 adds a_2, layer 8 reads a_5 — not a_{l−1}, which is an inner layer's output there."""
    nb = nbformat.reads(export(preset("residual"), "ipynb"), as_version=4)
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    for right in (r"z_{5} = a_{2} + f_{5}(a_{2})", r"z_{6} = a_{2} W_{6}^\top", r"z_{8} = a_{5} W_{8}^\top",
                  r"\frac{\partial L}{\partial a_{2}} = \delta_{5} + \delta_{6} W_{6}", "z_5 = a_2 + f(a_2)"):
        assert right in markdown, right
    for wrong in (r"a_{4} + f_{5}", r"z_{6} = a_{5}", r"z_{8} = a_{7}", "z_5 = a_4"):
        assert wrong not in markdown, wrong


@pytest.mark.parametrize("name", ["nested-residual", "random-11"])
def test_each_linear_layers_equation_reads_the_same_input_as_its_code(name):
    nb = nbformat.reads(export(NETWORKS[name], "ipynb"), as_version=4)
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    in_code = dict(re.findall(r"^z(\d+) = a(\d+) @ W\d+\.T", code, re.M))
    in_tex = dict(re.findall(r"z_\{(\d+)\} = a_\{(\d+)\} W_\{\d+\}", markdown))
    assert in_code and in_tex == in_code
