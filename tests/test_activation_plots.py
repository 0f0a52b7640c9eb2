"""The Activations page's figures: the curves as float64 typed arrays (base64 in the JSON) holding exactly the
values torch gives on the grid."""
from __future__ import annotations

import numpy as np
import plotly.io as pio
import torch

from engine.lessons import activations as A
from ui import activation_plots as P


def test_the_tanh_figure_holds_tanh_and_its_derivative_exactly_as_float64_arrays():
    fig = P.activation_figure(A.activation_curve("tanh", A.SATURATION))
    z = torch.linspace(-6, 6, A.N_POINTS, dtype=torch.float64)
    by_torch = {"φ(z) torch": torch.tanh(z), "φ'(z) torch autograd": 1 - torch.tanh(z) ** 2}
    for trace in fig.data[:4]:
        assert trace.x is None and trace.y.dtype == np.float64 and len(trace.y) == A.N_POINTS
        x = trace.x0 + trace.dx * np.arange(A.N_POINTS)  # how Plotly places the points
        np.testing.assert_allclose(x, z.numpy(), rtol=0, atol=1e-12)
    for trace in fig.data[:4]:
        if trace.name in by_torch:
            np.testing.assert_allclose(trace.y, by_torch[trace.name].numpy(), rtol=1e-15, atol=1e-15)


def test_the_softmax_figure_holds_the_outputs_and_sums_of_its_jacobian_column():
    fig = P.softmax_figure(A.softmax_curve())
    a = np.stack([t.y for t in fig.data[:3]], axis=1)
    np.testing.assert_allclose(a.sum(axis=1), 1.0, atol=1e-12)  # outputs of a softmax sum to 1
    jac = np.stack([t.y for t in fig.data[3::2][:3]], axis=1)
    np.testing.assert_allclose(jac.sum(axis=1), 0.0, atol=1e-12)  # each Jacobian column sums to 0


def test_figures_are_sent_as_typed_arrays_and_are_small():
    for fig in (P.activation_figure(A.activation_curve("sigmoid", A.SATURATION)), P.softmax_figure(A.softmax_curve())):
        text = pio.to_json(fig, validate=False)
        assert '"bdata"' in text and len(text) < 160_000  # 69 KB and 151 KB; as JSON numbers 135 KB and 308 KB
