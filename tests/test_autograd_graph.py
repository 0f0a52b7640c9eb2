"""The autograd graph DOT: one node per op with its forward shape, and the parameters as leaves."""
import re

import torch

from engine.inspector.autograd_graph import autograd_dot, autograd_graph
from engine.inspector.presets import preset
from engine.inspector.spec import LayerSpec, NetworkSpec


def _labels(dot: str) -> list[str]:
    return [m.replace("\\n", "\n") for m in re.findall(r'label="((?:[^"\\]|\\.)*)"', dot)]


def test_two_layer_graph_has_every_op_with_its_shape():
    # 3 → 2 (relu) → 1, batch 4, mse: loss ← addmm(b2, relu(addmm(b1, x, W1ᵀ)), W2ᵀ)
    labels = _labels(autograd_dot(preset("two-layer")))
    ops = sorted(label.split("\n")[:2] for label in labels)
    assert ops == sorted([["MseLossBackward0", "scalar"], ["AddmmBackward0", "(4×1)"], ["TBackward0", "(2×1)"],
                          ["W2", "(1×2)"], ["ReluBackward0", "(4×2)"], ["AddmmBackward0", "(4×2)"],
                          ["TBackward0", "(3×2)"], ["W1", "(2×3)"], ["b1", "(2)"], ["b2", "(1)"]])


def test_edges_run_from_inputs_to_the_op_that_used_them():
    g = autograd_graph(preset("two-layer"))
    by_id = {n.id: n.op for n in g.nodes}
    edges = {(by_id[a], by_id[b]) for a, b in g.edges}
    assert ("W2", "TBackward0") in edges and ("b1", "AddmmBackward0") in edges
    assert ("ReluBackward0", "AddmmBackward0") in edges and ("AddmmBackward0", "MseLossBackward0") in edges
    assert len(g.edges) == 9  # a tree here: 10 nodes


def test_small_leaves_show_value_and_gradient_of_the_line_preset():
    # ŷ = 1·2 + 1 = 3, L = (3 − 10)² = 49, ∂L/∂W = 2(ŷ − y)x = −28, ∂L/∂b = −14
    dot = autograd_dot(preset("line"))
    assert "L = 49" in dot
    assert "W1\\n(1×1)\\nvalue [1]\\ngrad [-28]" in dot
    assert "b1\\n(1)\\nvalue [1]\\ngrad [-14]" in dot


def test_leaf_gradients_equal_an_independent_autograd_pass():
    spec = NetworkSpec(2, [LayerSpec(3, "tanh"), LayerSpec(2, "identity")], loss="cross_entropy", seed=3)
    g = autograd_graph(spec)
    leaves = {n.op: n for n in g.nodes if n.leaf}
    w1 = leaves["W1"].value.clone().requires_grad_(True)
    w2 = leaves["W2"].value.clone().requires_grad_(True)
    from engine.inspector.materialize import materialize
    m = materialize(spec)
    logits = torch.tanh(m.x @ w1.T + m.biases[0]) @ w2.T + m.biases[1]
    torch.nn.functional.cross_entropy(logits, m.y).backward()
    torch.testing.assert_close(leaves["W1"].grad, w1.grad)
    torch.testing.assert_close(leaves["W2"].grad, w2.grad)
    assert "TanhBackward0" in {n.op for n in g.nodes}


def test_big_leaves_are_named_but_not_printed():
    dot = autograd_dot(NetworkSpec(8, [LayerSpec(8, "sigmoid"), LayerSpec(1, "sigmoid")], loss="bce"))
    assert "W1\\n(8×8)\\n" not in dot and "W1\\n(8×8)" in dot
    assert "SigmoidBackward0" in dot and "BinaryCrossEntropyBackward0" in dot
