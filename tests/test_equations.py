"""Chain-rule LaTeX with a 3 → 2 → 1 net's real shapes, and the term-by-term sum for one weight."""
import pytest
import torch

from engine.inspector.equations import (
    gradient_differences,
    input_term_example,
    layer_equations,
    loss_equation,
    numerical_tolerance,
    weight_term_example,
)
from engine.inspector.materialize import materialize
from engine.inspector.presets import preset
from engine.inspector.spec import LayerSpec, NetworkSpec
from engine.inspector.trace import trace


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
    # ∂L/∂W = −28, L = 49 (one row): manual bound 1e-10·28; numerical bound 1e-6·28 plus the rounding of
    # L over h: 64 ulps · 49 / 1e-6 (the gradient's scale, not 1e-6·|L| = 4.9e-5)
    t = trace(preset("line"))
    g = t.layers[0].grads["weight"]
    assert g.tolerance == pytest.approx(2.8e-9)
    assert numerical_tolerance(g, "float64", t.loss) == pytest.approx(1e-6 * 28 + 64 * 2.0**-52 * 49 / 1e-6)
    f32 = trace(NetworkSpec(2, [LayerSpec(1, "identity")], dtype="float32", batch=2, seed=1))
    g32 = f32.layers[0].grads["bias"]  # b moves both rows: the rounding of all of L = ½ Σ ℓ_r counts
    expected = 1e-4 * max(1.0, g32.autograd.abs().max().item()) + 64 * 2.0**-52 * abs(f32.loss) / 1e-6
    assert numerical_tolerance(g32, "float32", f32.loss) == pytest.approx(expected, rel=1e-6)


def test_loss_caption_says_sum_for_the_sum_loss():
    spec = NetworkSpec(2, [LayerSpec(1, "identity")], loss="sum", batch=3)
    caption = loss_equation(spec).caption
    assert "mean" not in caption and "sum" in caption.split("(")[1]


def test_bce_latex_has_brackets_around_the_whole_sum():
    spec = NetworkSpec(2, [LayerSpec(1, "sigmoid")], loss="bce", batch=3)
    assert loss_equation(spec).latex.startswith(
        r"L=-\frac{1}{Bk}\sum_{r,i}\big[y_{ri}\log a_{ri}+(1-y_{ri})\log(1-a_{ri})\big]")


def test_mse_output_error_divides_by_batch_times_outputs():
    # B = 3 rows, k = 2 outputs: ∂L/∂a = 2(a − y)/(B·k) = 2(a − y)/6, not /3
    spec = NetworkSpec(2, [LayerSpec(2, "tanh")], loss="mse", batch=3)
    assert layer_equations(spec, 1)[2].latex == (
        r"\delta_{1} = \frac{\partial L}{\partial a_{1}} \odot \phi_{1}'(z_{1}) = \frac{2(a_{1} - y)}{6} \odot "
        r"\phi'(z_{1}) \quad (3\times 2) = (3\times 2) \odot (3\times 2)")
    t = trace(spec)  # and the number it shows is the trace's: δ = 2(a − y)/6 ⊙ (1 − a²)
    lt = t.layers[0]
    torch.testing.assert_close(lt.grads["z"].manual, 2 * (lt.a - t.y) / 6 * (1 - lt.a ** 2))


def test_numerical_tolerance_shown_is_the_one_used_at_a_saturated_bce_output():
    """x = 15 through σ: the trace conditions the manual bound of ∂L/∂a; the numerical bound shown must be
    the one the check applies — a numerical error just inside it passes, just outside fails."""
    from engine.inspector.trace import compare

    spec = NetworkSpec(1, [LayerSpec(1, "sigmoid", weight=[[1.0]], bias=[0.0])], loss="bce", x=[[15.0]], y=[[0.0]])
    t = trace(spec)
    g = t.layers[0].grads["a"]
    shown = numerical_tolerance(g, "float64", t.loss)
    a = t.layers[0].a
    cond = 1.0 / torch.minimum(a, 1 - a)
    none_left_out = torch.zeros_like(g.kink)
    inside = compare(g.manual, g.autograd, g.autograd + 0.9 * shown, none_left_out, "float64", t.loss, cond)
    outside = compare(g.manual, g.autograd, g.autograd + 1.1 * shown, none_left_out, "float64", t.loss, cond)
    assert inside.agree and not outside.agree


def test_nesterov_formula_shown_is_what_the_optimizer_does():
    """Evaluate the displayed update (m_t = μ m_{t-1} + g_t, θ_t = θ_{t-1} − η(g_t + μ m_t)) by hand and
    compare with torch.optim.SGD(nesterov=True) on f(θ) = θ⁴/4 − θ."""
    from engine.core.optim import UPDATE_RULES

    assert UPDATE_RULES["nesterov"] == (
        r"\begin{aligned} m_t &= \mu\, m_{t-1} + g_t \quad (m_1 = g_1) \\"
        r" \theta_t &= \theta_{t-1} - \eta\, (g_t + \mu\, m_t) \end{aligned}")
    eta, mu = 0.05, 0.9
    theta, m, shown = 2.0, None, []
    for _ in range(20):
        g = theta ** 3 - 1
        m = g if m is None else mu * m + g
        theta = theta - eta * (g + mu * m)
        shown.append(theta)
    p = torch.tensor([2.0], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([p], lr=eta, momentum=mu, nesterov=True)
    for want in shown:
        opt.zero_grad()
        (p ** 4 / 4 - p).sum().backward()
        opt.step()
        assert p.item() == pytest.approx(want, rel=1e-12)


def test_equations_name_the_a_a_layer_really_takes_after_and_inside_residual_blocks():
    # residual preset: 1 linear, 2 block (3, 4 inside), 5 block (6, 7 inside), 8 linear. Every kind wrote its input
    # as a_{l-1}: 'z_8 = a_7 W_8' (a_7 is block 5's last inner layer; layer 8 takes a_5), 'z_3 = a_2 W_3' (the
    # block's first inner layer takes the block's input a_1), 'z_5 = a_4 + f_5(a_4)' (block 5 takes a_2).
    spec = preset("residual")
    takes = {1: 0, 2: 1, 3: 1, 4: 3, 5: 2, 6: 2, 7: 6, 8: 5}  # by hand from the structure above
    for l, s in takes.items():
        text = " ".join(e.latex for e in layer_equations(spec, l))
        assert f"a_{{{s}}}" in text, (l, s)
        if s != l - 1:
            assert f"a_{{{l - 1}}}" not in text, (l, text)
    t = trace(spec)
    assert "a_{5}[r,0]" in weight_term_example(t, 8, 0, 0).latex
    assert all("a_{4}" not in tex for _, tex in input_term_example(t, 5, 0, 0).lines)
