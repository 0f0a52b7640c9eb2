"""The stepper's frames for every layer kind (BatchNorm, LayerNorm, dropout, residual blocks): the order written
from the spec alone, each value the trace's own tensor, forward values equal to torch's (nn.functional through
autograd's pass) and gradients equal to torch autograd, on random stacks of all kinds."""
from __future__ import annotations

import itertools

import torch
from hypothesis import HealthCheck, given, settings

from engine.inspector.materialize import materialize
from engine.inspector.presets import preset
from engine.inspector.spec import LayerSpec, NetworkSpec
from engine.inspector.trace import autograd_pass, trace
from engine.teach.frames import frames
from tests.test_new_layers import stacks

PARAMS = {"linear": ("weight", "bias"), "batchnorm": ("weight", "bias"), "layernorm": ("weight", "bias"),
          "dropout": (), "residual": ()}


def _numbered(layers: list[dict], counter) -> list[tuple[int, dict, list]]:
    """(run-order index, layer, its inner layers numbered) — a block first, then its inner layers."""
    out = []
    for d in layers:
        i = next(counter)
        out.append((i, d, _numbered(d.get("layers", []), counter)))
    return out


def _forward(tree) -> list[tuple]:
    out = []
    for i, _, inner in tree:
        out += _forward(inner) + [("z", i, None), ("a", i, None)]
    return out


def _backward(tree) -> list[tuple]:
    out = []
    for i, d, inner in reversed(tree):
        out.append(("delta", i, None))
        if inner:  # the sum passes δ_i to the block's last inner layer, then the inner chain rule runs
            out += [("grad_a", inner[-1][0], None)] + _backward(inner)
        out += [("grad_param", i, p) for p in PARAMS[d.get("type", "linear")]] + [("grad_input", i, None)]
    return out


def _order(d: dict) -> list[tuple]:
    tree = _numbered(d["layers"], itertools.count(1))
    return ([("x", None, None)] + _forward(tree) + [("loss", None, None), ("grad_a", tree[-1][0], None)]
            + _backward(tree))


def _check(d: dict) -> None:
    spec = NetworkSpec.from_dict(d)
    t = trace(spec, numerical=False)
    fs = frames(t)
    assert [(f.quantity, f.layer, f.param) for f in fs] == _order(spec.to_dict())
    by_index = {lt.index: lt for lt in t.all_layers}
    _, torch_fwd, _, _ = autograd_pass(materialize(spec), spec.loss)  # z, a of every layer by torch's own ops
    for f in fs:
        if f.quantity in ("x", "loss"):
            assert f.value is t.x if f.quantity == "x" else f.value.item() == t.loss
            continue
        lt = by_index[f.layer]
        if f.quantity in ("z", "a"):
            assert f.value is getattr(lt, f.quantity)
            torch.testing.assert_close(f.value, torch_fwd[(f.layer, f.quantity)], rtol=1e-10, atol=1e-10)
            continue
        name = {"delta": "z", "grad_a": "a", "grad_param": f.param, "grad_input": "input"}[f.quantity]
        g = lt.grads[name]
        assert f.value is g.manual
        torch.testing.assert_close(f.value, g.autograd, rtol=1e-9, atol=1e-9)


def test_the_presets_of_every_kind():
    for name in ("batchnorm", "residual", "dropout"):
        _check(preset(name).to_dict())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stacks())
def test_random_stacks_of_every_kind(d):
    _check(d)


def test_layernorm_statistics_are_one_per_row_and_batchnorm_ones_per_feature():
    """3 rows of 2 features: LayerNorm's μ has one entry per row (a column), BatchNorm's one per feature (a row)."""
    def z_numbers(kind: str) -> str:
        spec = NetworkSpec(2, [LayerSpec(type=kind, activation="identity"), LayerSpec(1, "identity")], batch=3,
                           x=[[1.0, 3.0], [2.0, 2.0], [0.0, 4.0]], y=[[0.0], [1.0], [2.0]])
        return next(f.numbers for f in frames(trace(spec)) if f.quantity == "z" and f.layer == 1)

    # (1+3)/2, (2+2)/2, (0+4)/2 per row; (1+2+0)/3, (3+2+4)/3 per feature
    assert r"\mu_{1} &= \begin{bmatrix} 2 \\ 2 \\ 2 \end{bmatrix}" in z_numbers("layernorm")
    assert r"\mu_{1} &= \begin{bmatrix} 1 & 3 \end{bmatrix}" in z_numbers("batchnorm")
