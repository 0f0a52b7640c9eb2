"""Chain-rule LaTeX with a 3 → 2 → 1 net's real shapes, and the term-by-term sum for one weight."""
import pytest
import torch

from engine.backprop import trace
from engine.equations import (
    gradient_differences,
    layer_equations,
    loss_equation,
    numerical_tolerance,
    weight_term_example,
)
from engine.network import materialize
from engine.presets import preset
from engine.spec import LayerSpec, NetworkSpec


def _spec_3_2_1():
    return NetworkSpec(3, [LayerSpec(2, "relu"), LayerSpec(1, "identity")], loss="mse", batch=4, seed=0)


def test_layer_two_shapes_for_a_3_2_1_net_with_batch_4():
    tex = " ".join(e.latex for e in layer_equations(_spec_3_2_1(), 2))
    assert r"z_{2} = a_{1} W_{2}^\top + b_{2} \quad (4\times 1) = (4\times 2)\,(2\times 1) + (1)" in tex
    assert r"\delta_{2}^\top a_{1} \quad (1\times 2) = (1\times 4)\,(4\times 2)" in tex  # ∂L/∂W₂: (1×2)=(1×B)(B×2)
    assert r"\delta_{2} W_{2} \quad (4\times 2) = (4\times 1)\,(1\times 2)" in tex
    assert r"\frac{2(a_{2} - y)}{4}" in tex  # mse: ∂L/∂a = 2(a − y)/(B·k), B·k = 4


def test_layer_one_shapes_and_the_error_sent_back():
    tex = " ".join(e.latex for e in layer_equations(_spec_3_2_1(), 1))
    assert (r"(\delta_{2} W_{2}) \odot \phi_{1}'(z_{1}) \quad "
            r"(4\times 2) = ((4\times 1)\,(1\times 2)) \odot (4\times 2)") in tex
    assert r"\delta_{1}^\top a_{0} \quad (2\times 3) = (2\times 4)\,(4\times 3)" in tex
    assert r"\max(0,z)" in tex


def test_fused_output_errors_are_named():
    ce = NetworkSpec(3, [LayerSpec(4, "identity")], loss="cross_entropy", batch=5)
    assert r"\mathrm{onehot}(y)}{5}" in layer_equations(ce, 1)[2].latex
    bce = NetworkSpec(3, [LayerSpec(2, "sigmoid")], loss="bce", batch=3)
    assert r"\frac{a_{1} - y}{6}" in layer_equations(bce, 1)[2].latex
    assert "mean" in loss_equation(ce).caption


@pytest.mark.parametrize("l,i,j", [(2, 0, 1), (1, 1, 2), (1, 0, 0)])
def test_term_by_term_sum_equals_autograd_gradient(l, i, j):
    spec = _spec_3_2_1()
    ex = weight_term_example(trace(spec), l, i, j)
    m = materialize(spec)  # independent autograd pass
    w = [t.clone().requires_grad_(True) for t in m.weights]
    out = torch.relu(m.x @ w[0].T + m.biases[0]) @ w[1].T + m.biases[1]
    torch.nn.functional.mse_loss(out, m.y).backward()
    assert ex.total == pytest.approx(w[l - 1].grad[i, j].item(), rel=1e-12, abs=1e-14)
    assert len(ex.terms) == 4 and sum(p for *_, p in ex.terms) == pytest.approx(ex.total, rel=1e-12, abs=1e-14)
    assert ex.terms[0][1] * ex.terms[0][2] == pytest.approx(ex.terms[0][3])


def test_term_example_on_line_is_minus_28():
    # δ = 2(ŷ − y) = −14 and a₀ = x = 2, so ∂L/∂W[0,0] = −14 · 2 = −28
    ex = weight_term_example(trace(preset("line")), 1, 0, 0)
    assert ex.terms == [(0, -14.0, 2.0, -28.0)] and ex.total == -28.0 and "(-28)" in ex.latex


def test_long_batches_are_elided_and_bad_indices_refused():
    spec = NetworkSpec(2, [LayerSpec(1, "identity")], batch=20)
    ex = weight_term_example(trace(spec), 1, 0, 1)
    assert len(ex.terms) == 20 and "12 more rows" in ex.latex
    with pytest.raises(IndexError, match="pick i < 1"):
        weight_term_example(trace(spec), 1, 1, 0)


def test_differences_are_elementwise_and_kinks_blank():
    t = trace(preset("two-layer"))
    g = t.layers[0].grads["weight"]
    manual, numerical = gradient_differences(g)
    assert manual.shape == g.manual.shape and manual.max().item() == pytest.approx(g.max_abs_error)
    assert numerical.shape == g.manual.shape and torch.isnan(numerical[g.kink]).all()


def test_numerical_tolerance_on_line_by_hand():
    # ∂L/∂W = −28, L = 49: manual bound 1e-10·28, numerical bound 1e-6·max(28, 49) = 4.9e-5
    t = trace(preset("line"))
    g = t.layers[0].grads["weight"]
    assert g.tolerance == pytest.approx(2.8e-9)
    assert numerical_tolerance(g, "float64", t.loss) == pytest.approx(4.9e-5)
    f32 = trace(NetworkSpec(2, [LayerSpec(1, "identity")], dtype="float32", batch=2, seed=1))
    g32 = f32.layers[0].grads["bias"]  # scale max(1, |g|) and |L| both from this trace
    expected = 1e-4 * max(1.0, g32.autograd.abs().max().item(), abs(f32.loss))
    assert numerical_tolerance(g32, "float32", f32.loss) == pytest.approx(expected)
