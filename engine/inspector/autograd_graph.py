"""The autograd graph of a spec's loss, walked from loss.grad_fn as torchviz does, written as a DOT string.

Every node of the backward graph is one torch op's backward function (AddmmBackward0 for
z_l = a_{l-1} W_lᵀ + b_l, TBackward0 for the Wᵀ inside it, ReluBackward0, MseLossBackward0, …);
the leaves are the parameters W_l, b_l (AccumulateGrad nodes). The output shape of each op is read
from a hook on the node during loss.backward(): the gradient arriving at an op has the shape of that
op's forward output. No torchviz and no graphviz binary: the browser renders the DOT.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from engine.core.layers import Context
from engine.core.numerical_batch import owned
from engine.core.ops import ACTIVATIONS, LOSSES
from engine.inspector.materialize import materialize
from engine.inspector.spec import NetworkSpec

SMALL_LEAF = 6  # leaves with at most this many numbers show their value and gradient in the label


@dataclass
class GraphNode:
    id: str  # DOT node id
    op: str  # backward function name, e.g. "AddmmBackward0"; the parameter name for leaves
    shape: tuple[int, ...] | None  # forward output shape of the op (None if the hook never fired)
    leaf: bool = False  # a parameter W_l / b_l
    value: torch.Tensor | None = None  # leaves only
    grad: torch.Tensor | None = None  # leaves only: ∂L/∂(leaf)


@dataclass
class AutogradGraph:
    nodes: list[GraphNode]  # nodes[0] is the loss's grad_fn
    edges: list[tuple[str, str]] = field(default_factory=list)  # (input node, node that consumed it)
    loss: float = 0.0


def _activation(name: str, z: torch.Tensor) -> torch.Tensor:
    """torch's own φ; identity adds no op so the graph shows only real operations."""
    return z if name == "identity" else ACTIVATIONS[name].torch(z)


def _forward(spec: NetworkSpec) -> tuple[torch.Tensor, dict[int, str]]:
    """The loss as a torch graph; returns (loss, {id(leaf tensor): "W1", …})."""
    m = materialize(spec)
    names, a = {}, m.x
    if all(layer.type == "linear" for layer in m.layers):
        for l, (w, b, layer) in enumerate(zip(m.weights, m.biases, spec.layers, strict=True), start=1):
            w, b = w.clone().requires_grad_(True), b.clone().requires_grad_(True)
            names[id(w)], names[id(b)] = f"W{l}", f"b{l}"
            a = _activation(layer.activation, F.linear(a, w, b))  # (B, n_{l-1}) → (B, n_l)
        return LOSSES[spec.loss].torch(a, m.y), names
    # other kinds: each layer's torch reference (F.batch_norm, F.layer_norm, x ⊙ mask, x + f(x)); leaves are
    # named by layer index and torch name (a block's inner ones by theirs)
    ctx = Context(training=True, state=m.state)
    for layer, p in zip(m.layers, m.params, strict=True):
        leaves = {name: t.clone().requires_grad_(True) for name, t in p.items()}
        for inner, prefix, own in owned(layer, leaves):
            for name in own:
                label = {"weight": "W", "bias": "b"}[name] if inner.type == "linear" else f"{name} "
                names[id(leaves[prefix + name])] = f"{label}{inner.index}"
        _, a = layer.torch_run(leaves, a, ctx)
    return LOSSES[spec.loss].torch(a, m.y), names


def autograd_graph(spec: NetworkSpec) -> AutogradGraph:
    """Walk loss.grad_fn.next_functions depth first, hook every node, run backward, collect shapes."""
    loss, names = _forward(spec)
    index: dict[object, GraphNode] = {}
    shapes: dict[object, tuple[int, ...]] = {}
    graph = AutogradGraph([], [], loss.item())
    stack = [loss.grad_fn]
    while stack:
        fn = stack.pop()
        if fn in index:
            continue
        variable = getattr(fn, "variable", None)  # AccumulateGrad nodes hold their leaf tensor
        node = GraphNode(f"n{len(index)}", names.get(id(variable), "leaf") if variable is not None else fn.name(),
                         tuple(variable.shape) if variable is not None else None, leaf=variable is not None)
        index[fn] = node
        graph.nodes.append(node)
        if variable is None:
            # grad_outputs[0] has the shape of this op's forward output
            fn.register_hook(lambda _gi, go, fn=fn: shapes.__setitem__(fn, tuple(go[0].shape)))
        for child, _ in fn.next_functions:
            if child is not None:
                stack.append(child)
    graph.edges = [(index[child].id, index[fn].id) for fn in index for child, _ in fn.next_functions
                   if child is not None]
    loss.backward()
    for fn, node in index.items():
        if node.leaf:
            node.value, node.grad = fn.variable.detach(), fn.variable.grad
        else:
            node.shape = shapes.get(fn)
    return graph


def _shape_text(shape: tuple[int, ...] | None) -> str:
    if shape is None:
        return "?"
    return "scalar" if len(shape) == 0 else "(" + "×".join(str(s) for s in shape) + ")"


def _numbers(t: torch.Tensor) -> str:
    return "[" + ", ".join(f"{v:.3g}" for v in t.flatten().tolist()) + "]"


def node_label(node: GraphNode, is_loss: bool = False, loss: float = 0.0) -> str:
    """The lines shown in the box: op or parameter name, shape, and small leaves' value and grad."""
    lines = [node.op, _shape_text(node.shape)]
    if is_loss:
        lines.append(f"L = {loss:.4g}")
    if node.leaf and node.value is not None and node.value.numel() <= SMALL_LEAF:
        lines.append(f"value {_numbers(node.value)}")
        if node.grad is not None:
            lines.append(f"grad {_numbers(node.grad)}")
    return "\n".join(lines)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(graph: AutogradGraph) -> str:
    """DOT text: leaves (parameters) light blue on top, the loss green at the bottom, ops grey."""
    out = ["digraph autograd {", '  graph [rankdir=TB, fontsize=12];',
           '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=11, fillcolor="#eeeeee"];']
    for k, node in enumerate(graph.nodes):
        fill = "#cde4ff" if node.leaf else ("#c8f0b4" if k == 0 else "#eeeeee")
        label = node_label(node, k == 0, graph.loss)
        out.append(f"  {node.id} [label={_quote(label)}, fillcolor={_quote(fill)}];")
    out += [f"  {a} -> {b};" for a, b in graph.edges]
    out.append("}")
    return "\n".join(out)


def autograd_dot(spec: NetworkSpec) -> str:
    """The DOT string of the spec's loss graph."""
    return to_dot(autograd_graph(spec))
