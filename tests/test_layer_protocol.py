"""The layer protocol: a new kind is one class plus a registry entry, and the trace, the Math tab, finite
differences and training with its hand-written backward all work through it; the generic finite-difference
probes equal the linear kind's fast ones; the spec JSON stays as it was."""
from __future__ import annotations

import pytest
import torch

from engine.core import layers as core_layers
from engine.core import numerical
from engine.core.layers import Layer, Linear
from engine.core.layers.base import Context
from engine.core.layers.modules import LayerModule
from engine.inspector.equations import layer_equations
from engine.inspector.spec import NetworkSpec, SpecError
from engine.inspector.trace import trace


class Scale(Layer):
    """A test kind: z = x ⊙ weight + bias, one weight per unit (units = fan_in)."""

    type = "scale"

    def param_shapes(self):
        return {"weight": (self.units,), "bias": (self.units,)}

    def init_params(self, init, gen, dtype):
        return {"weight": torch.randn(self.units, generator=gen, dtype=dtype),
                "bias": torch.randn(self.units, generator=gen, dtype=dtype)}

    def forward(self, params, x, ctx):
        return x * params["weight"] + params["bias"], x

    def backward(self, params, cache, delta, need_input=True):
        return {"weight": (delta * cache).sum(0), "bias": delta.sum(0)}, delta * params["weight"]

    def torch_forward(self, params, x, ctx=None):
        return torch.addcmul(params["bias"], x, params["weight"])

    def latex_forward(self, B):
        return [("scale", rf"z_{{{self.index}}} = a_{{{self.index - 1}}} \odot w_{{{self.index}}} + b")]

    def latex_backward(self, B):
        return [("input", rf"\partial a = {self.latex_grad_input()}")]

    def latex_grad_input(self):
        return rf"\delta_{{{self.index}}} \odot w_{{{self.index}}}"


SCALE_SPEC = {"input_size": 3, "loss": "mse", "batch": 4, "seed": 5, "layers": [
    {"units": 3, "activation": "tanh"}, {"units": 3, "activation": "sigmoid", "type": "scale"},
    {"units": 2, "activation": "identity"}]}


@pytest.fixture
def with_scale(monkeypatch):
    monkeypatch.setitem(core_layers.KINDS, "scale", Scale)


def test_a_new_kind_is_traced_three_ways_through_the_protocol_alone(with_scale):
    t = trace(NetworkSpec.from_dict(SCALE_SPEC))
    assert t.agree and t.numerical_note is None
    mid = t.layers[1]
    assert isinstance(mid.layer, Scale) and list(mid.grads) == ["weight", "bias", "z", "a", "input"]
    # its finite differences (the generic probes) agree with autograd
    g = mid.grads["weight"]
    assert (g.numerical - g.autograd).abs().max() < 1e-8
    # the Math tab: layer 1's δ uses the scale layer's own ∂L/∂a expression
    tex = [e.latex for e in layer_equations(t.spec, 1)]
    assert any(r"(\delta_{2} \odot w_{2}) \odot \phi_{1}'(z_{1})" in s for s in tex)


def test_a_new_kind_trains_with_its_hand_written_backward(with_scale):
    kind = Scale(1, 3, 3, "tanh")
    manual, auto = LayerModule(kind, manual_backward=True), LayerModule(kind)
    with torch.no_grad():
        for m in (manual, auto):
            m.weight.copy_(torch.tensor([1.0, -2.0, 0.5]))
            m.bias.copy_(torch.tensor([0.1, 0.2, 0.3]))
    x = torch.randn(5, 3, generator=torch.Generator().manual_seed(0))
    for m in (manual, auto):
        torch.tanh(m(x)).pow(2).sum().backward()
    assert type(manual(x).grad_fn).__name__ == "ManualScaleFunctionBackward"
    torch.testing.assert_close(manual.weight.grad, auto.weight.grad)
    torch.testing.assert_close(manual.bias.grad, auto.bias.grad)


def test_generic_probes_equal_the_linear_fast_probes(monkeypatch):
    spec = NetworkSpec.from_dict({"input_size": 3, "loss": "cross_entropy", "batch": 3, "seed": 2, "layers": [
        {"units": 4, "activation": "relu"}, {"units": 3, "activation": "identity"}]})
    fast = trace(spec)
    monkeypatch.setattr(Linear, "param_probes", Layer.param_probes)
    generic = trace(spec)
    for a, b in zip(fast.layers, generic.layers, strict=True):
        for name in ("weight", "bias"):
            torch.testing.assert_close(a.grads[name].numerical, b.grads[name].numerical, rtol=1e-7, atol=1e-9)
            assert torch.equal(a.grads[name].kink, b.grads[name].kink)


def test_a_layer_without_type_is_linear_and_is_written_without_it():
    d = {"input_size": 2, "layers": [{"units": 1, "activation": "identity"}]}
    spec = NetworkSpec.from_dict(d)
    assert spec.layers[0].type == "linear" and isinstance(spec.build_layers()[0], Linear)
    assert "type" not in spec.to_dict()["layers"][0]
    typed = NetworkSpec.from_dict({**d, "layers": [{"units": 1, "activation": "identity", "type": "linear"}]})
    assert typed.to_dict() == spec.to_dict()


def test_an_unknown_type_says_which_kinds_exist():
    with pytest.raises(SpecError, match=r"layer 1: unknown type 'conv'; use one of linear"):
        NetworkSpec.from_dict({"input_size": 2, "layers": [{"units": 1, "type": "conv"}]})


def test_a_batch_coupled_kind_is_refused_by_finite_differences_with_a_message():
    class Coupled(Linear):
        rowwise = False

    kind = Coupled(1, 2, 2, "identity")
    params = kind.init_params("kaiming", torch.Generator().manual_seed(0), torch.float64)
    z, _ = kind.forward(params, torch.ones(3, 2, dtype=torch.float64), Context())
    with pytest.raises(NotImplementedError, match="whole batches"):
        numerical.numerical_gradients([kind], [params], "sum", torch.ones(3, 2, dtype=torch.float64), None,
                                      [z], [torch.ones(3, 2), z])
