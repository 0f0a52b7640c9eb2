"""The Train page's figure builders draw exactly the numbers they are given, minus the non-finite ones."""
import math

import numpy as np
import plotly.io as pio
import pytest
import torch

from engine.train import health
from engine.train.boundary import BoundaryGrid
from engine.train.jobs import progress
from ui import train_plots as P

NAN, INF = float("nan"), float("inf")


def _trace(fig, name):
    return next(t for t in fig.data if t.name == name)


def test_finite_xy_drops_nan_inf_and_non_positive_on_log_axes():
    assert P.finite_xy([1, 2, 3, 4], [0.5, NAN, INF, 2.0]) == ([1, 4], [0.5, 2.0])
    assert P.finite_xy([1, 2, 3], [0.0, -1.0, 3.0], positive=True) == ([3], [3.0])
    assert P.finite_xy([1, 2], [None, 1.0]) == ([2], [1.0])


def test_loss_figure_draws_the_given_losses_and_drops_non_finite_ones():
    steps = [{"step": 25, "loss": 0.9}, {"step": 50, "loss": 0.5}, {"step": 75, "loss": NAN}]
    epochs = [{"epoch": 1, "step": 50, "train_loss": 0.7, "val_loss": 0.6},
              {"epoch": 2, "step": 100, "train_loss": INF, "val_loss": 0.4}]
    fig = P.loss_figure(steps, epochs)
    batch = _trace(fig, "batch loss (logged steps)")
    assert list(batch.x) == [25, 50] and list(batch.y) == [0.9, 0.5]
    assert list(_trace(fig, "train loss (epoch mean)").y) == [0.7]
    val = _trace(fig, "validation loss")
    assert list(val.x) == [50, 100] and list(val.y) == [0.6, 0.4]
    assert P.loss_figure(steps, epochs, log_y=True).layout.yaxis.type == "log"


def test_loss_figure_starts_at_step_0_and_puts_epoch_means_mid_epoch():
    steps = [{"step": 0, "loss": 2.3}, {"step": 1, "loss": 2.2}, {"step": 100, "loss": 0.4}]
    epochs = [{"epoch": 1, "step": 50, "train_loss": 1.0, "val_loss": 0.8},
              {"epoch": 2, "step": 100, "train_loss": 0.5, "val_loss": 0.45}]
    fig = P.loss_figure(steps, epochs)
    assert list(_trace(fig, "batch loss (logged steps)").x)[0] == 0
    # a mean over steps 1…50 belongs at the epoch's middle; validation is measured after its last step
    assert list(_trace(fig, "train loss (epoch mean)").x) == [25, 75]
    assert list(_trace(fig, "validation loss").x) == [50, 100]
    assert fig.layout.yaxis.exponentformat == "e"  # 8e+14, never "800T"
    assert list(P.loss_figure(steps, []).data[0].x) == [0, 1, 100]  # before the first epoch ends (or diverged)


def test_accuracy_figure_plots_train_and_validation_accuracy_per_epoch():
    epochs = [{"epoch": 1, "train_accuracy": 0.6, "val_accuracy": 0.7},
              {"epoch": 2, "train_accuracy": 0.8, "val_accuracy": None}]
    fig = P.accuracy_figure(epochs)
    assert list(_trace(fig, "train accuracy").y) == [0.6, 0.8]
    assert list(_trace(fig, "validation accuracy").x) == [1]


def _stats(step, layer, grad_norm, ratio, dead=0.0):
    return {"step": step, "epoch": 1, "layer": layer, "grad_norm": grad_norm, "update_ratio": ratio,
            "dead_fraction": dead, "saturated_fraction": 0.0, "weight_norm": 1.0}


def test_health_figure_has_one_log_trace_per_layer_and_metric_and_the_guide_lines():
    rows = [_stats(1, 1, 0.5, 1e-3), _stats(1, 2, 0.1, 2e-3), _stats(51, 1, NAN, 5e-4), _stats(51, 2, 0.2, 0.0)]
    fig = P.health_figure(rows)
    grad = [t for t in fig.data if t.xaxis == "x"]
    ratio = [t for t in fig.data if t.xaxis == "x2"]
    assert [list(t.y) for t in grad] == [[0.5], [0.1, 0.2]]
    assert [list(t.y) for t in ratio] == [[1e-3, 5e-4], [2e-3, 10 ** -4.5]]  # the 0 sits on the floor band
    assert fig.layout.yaxis.type == "log" and fig.layout.yaxis2.type == "log"
    assert sorted(s.y0 for s in fig.layout.shapes if s.type == "line") == [P.HEALTHY_RATIO, health.UPDATE_TOO_LARGE]
    assert list(fig.layout.yaxis.range) == [-1, 0]  # grad norms 0.1–0.5: the decade 10^-1 … 10^0
    assert list(fig.layout.yaxis2.range) == [-5, -1]  # ratios 5e-4 … 2e-3, the guides 1e-3, 1e-1, a band for 0


def test_health_figure_shows_zeros_on_a_floor_band_labelled_0_and_marks_single_points():
    # layer 1: one stats point (grad 0.5); layer 2: its ReLUs died, so its gradient and update are exactly 0
    rows = [_stats(1, 1, 0.5, 1e-3), _stats(1, 2, 0.2, 2e-3), _stats(51, 2, 0.0, 0.0), _stats(101, 2, 0.0, 0.0)]
    fig = P.health_figure(rows)
    grad = [t for t in fig.data if t.xaxis == "x"]
    assert all("markers" in t.mode for t in grad)  # a lone point is a visible marker, not an invisible line
    floor = 10 ** -1.5  # grad norms 0.2–0.5 span the decade 10^-1 … 10^0; the band is the decade below
    assert list(grad[1].x) == [1, 51, 101] and list(grad[1].y) == pytest.approx([0.2, floor, floor])
    assert list(fig.layout.yaxis.range) == [-2, 0]
    assert "0" in fig.layout.yaxis.ticktext and floor == pytest.approx(
        fig.layout.yaxis.tickvals[list(fig.layout.yaxis.ticktext).index("0")])
    bands = [s for s in fig.layout.shapes if s.type == "rect"]
    assert len(bands) == 2 and {(b.y0, b.y1) for b in bands} >= {(0.01, 0.1)}
    ratio = [t for t in fig.data if t.xaxis == "x2"]
    assert list(ratio[1].y) == pytest.approx([2e-3, 10 ** -3.5, 10 ** -3.5])  # ratios and guides: 1e-3 … 1e-1
    assert list(fig.layout.yaxis2.range) == [-4, -1]


def test_health_figure_without_zeros_has_no_floor_band():
    fig = P.health_figure([_stats(1, 1, 0.5, 1e-3), _stats(51, 1, 0.3, 2e-3)])
    assert not [s for s in fig.layout.shapes if s.type == "rect"]
    assert "0" not in (fig.layout.yaxis.ticktext or ())


def test_latest_flags_use_each_layers_most_recent_row():
    rows = [_stats(1, 1, 1e-9, 1e-3), _stats(51, 1, 0.5, 1e-3), _stats(51, 2, 1e-9, 0.5, dead=0.9)]
    lines = P.latest_flags(rows)
    assert all(line.startswith("layer 2 (step 51): ") for line in lines)
    assert [line.split(": ", 1)[1] for line in lines] == health.flags(rows[2])
    assert P.latest_flags([_stats(1, 1, 0.5, 1e-3)]) == []


def test_histogram_figure_draws_counts_at_bin_centres():
    rows = [{"layer": 1, "kind": "weight", "counts": [1, 3], "edges": [0.0, 1.0, 2.0]},
            {"layer": 1, "kind": "grad", "counts": [2, 0], "edges": [-1.0, 0.0, 1.0]},
            {"layer": 2, "kind": "weight", "counts": [5, 5], "edges": [0.0, 0.5, 1.0]}]
    fig = P.histogram_figure(rows, epoch=3)
    assert [list(b.y) for b in fig.data] == [[1, 3], [2, 0], [5, 5]]
    assert list(fig.data[0].x) == [0.5, 1.5] and list(fig.data[2].width) == [0.5, 0.5]
    assert fig.data[1].xaxis == "x2" and fig.data[2].xaxis == "x3"
    assert "epoch 3" in fig.layout.title.text


def _rows(z):
    return [list(r) for r in z]


def _grid(probs, kind="softmax"):
    n = probs.shape[0]
    return BoundaryGrid([0.0, 1.0, 2.0][:n], [0.0, 1.0, 2.0][:n], probs, probs.argmax(-1), kind)


def test_boundary_figure_shows_p_class_1_for_two_classes_and_the_points():
    p1 = torch.tensor([[0.1, 0.9], [0.4, 0.6]])
    fig = P.boundary_figure(_grid(torch.stack([1 - p1, p1], -1)), [[0.0, 0.0], [1.0, 1.0]], [0, 1], epoch=2)
    heat = fig.data[0]
    assert heat.type == "heatmap" and _rows(heat.z) == p1.tolist()
    assert [t.name for t in fig.data[1:]] == ["class 0", "class 1"]
    assert list(fig.data[2].x) == [1.0]


def test_boundary_figure_shows_the_predicted_class_for_more_classes_or_scores():
    probs = torch.tensor([[[0.2, 0.7, 0.1], [0.1, 0.1, 0.8]], [[0.9, 0.05, 0.05], [0.3, 0.4, 0.3]]])
    fig = P.boundary_figure(_grid(probs), [[0.0, 0.0]], [2], epoch=1)
    assert _rows(fig.data[0].z) == [[1, 2], [0, 1]]
    scores = torch.tensor([[[0.2, 0.7], [0.9, 0.1]], [[0.4, 0.5], [0.6, 0.3]]])
    assert _rows(P.boundary_figure(_grid(scores, "scores"), [[0.0, 0.0]], [0], 1).data[0].z) == [[1, 0], [1, 0]]


def test_params_figure_puts_true_next_to_learned():
    rows = [{"name": "w1", "true": 2.0, "learned": 1.9, "abs_error": 0.1},
            {"name": "b", "true": 4.2, "learned": 4.0, "abs_error": 0.2}]
    fig = P.params_figure(rows)
    assert list(_trace(fig, "true").y) == [2.0, 4.2] and list(_trace(fig, "learned").y) == [1.9, 4.0]
    assert list(_trace(fig, "learned").x) == ["w1", "b"]


def test_confusion_figure_holds_the_counts():
    fig = P.confusion_figure([[5, 1], [2, 7]], "val")
    assert "val" in fig.layout.title.text
    assert [_rows(t.text) for t in fig.data] == [[[5, 1], [2, 7]]] * len(fig.data)  # every count written in


def test_confusion_colour_scale_is_the_errors_alone():
    # MNIST-like: ~1000 right per class, errors of 1–12; on one linear scale with the diagonal the errors vanish
    fig = P.confusion_figure([[980, 12, 1], [3, 1100, 0], [7, 2, 990]], "test")
    errors = next(t for t in fig.data if t.name == "errors")
    assert _rows(errors.z) == [[None, 12, 1], [3, None, 0], [7, 2, None]]
    assert (errors.zmin, errors.zmax) == (0, 12)
    correct = next(t for t in fig.data if t.name == "correct")
    assert _rows(correct.z) == [[980, None, None], [None, 1100, None], [None, None, 990]]
    assert len({c for _, c in correct.colorscale}) == 1  # one neutral colour: the diagonal is not on the scale


def test_misclassified_digits_reshape_rows_to_28_by_28_with_titles():
    x = torch.arange(3 * 784, dtype=torch.float32).reshape(3, 784)
    rows = [{"index": 2, "label": 7, "pred": 1}, {"index": 0, "label": 3, "pred": 5}]
    images, titles = P.misclassified_digits(x, rows)
    assert titles == ["7 → 1", "3 → 5"]
    assert images[0][0][0] == 2 * 784 and images[0][1][0] == 2 * 784 + 28 and len(images[1]) == 28
    fig = P.digits_figure(images, titles, cols=8)
    assert len(fig.data) == 2 and [a.text for a in fig.layout.annotations] == titles


def test_progress_fraction_and_eta():
    assert progress(25, 100, 5.0) == (0.25, pytest.approx(15.0))
    assert progress(0, 100, 0.0) == (0.0, None)
    assert progress(100, 100, 9.0) == (1.0, 0.0)
    frac, eta = progress(3, 0, 1.0)
    assert frac == 0.0 and eta is None


def test_data_figure_scatters_classes_and_regression():
    fig = P.data_figure([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]], [1, 0, 1], "classification", "t")
    assert [t.name for t in fig.data] == ["class 0", "class 1"] and list(fig.data[1].y) == [1.0, 5.0]
    fig = P.data_figure([[1.0, 9.0], [2.0, 9.0]], [[3.0], [4.0]], "regression", "t")
    assert list(fig.data[0].x) == [1.0, 2.0] and list(fig.data[0].y) == [3.0, 4.0]
    assert not any(math.isnan(v) for v in fig.data[0].y)


def test_the_data_preview_sends_typed_arrays_that_hold_the_values_exactly():
    fig = P.data_figure([[0.5, -0.25], [1.5, 2.0], [-1.0, 0.75]], [0, 1, 0], "classification", "t")
    assert fig.data[0].x.dtype == np.float32  # every value is a float32: 4 bytes a number
    assert fig.data[0].x.tolist() == [0.5, -1.0] and fig.data[0].y.tolist() == [-0.25, 0.75]
    assert fig.data[1].x.tolist() == [1.5] and fig.data[1].y.tolist() == [2.0]
    fig = P.data_figure([[0.1, 9.0]], [[0.3]], "regression", "t")  # 0.1 is no float32: float64 keeps it
    assert fig.data[0].x.dtype == np.float64 and fig.data[0].x.tolist() == [0.1] and fig.data[0].y.tolist() == [0.3]


def test_the_moons_preview_is_sent_as_base64_and_is_small():
    x = torch.rand(800, 2, generator=torch.Generator().manual_seed(0)) * 3 - 1  # float32, like the datasets
    y = (x[:, 0] > 0.5).long()
    text = pio.to_json(P.data_figure(x.tolist(), y.tolist(), "classification", "t"), validate=False)
    assert '"bdata"' in text and len(text) < 25_000  # as JSON lists of numbers: ~47 KB


def test_preview_points_have_no_ring_but_points_on_the_boundary_heatmap_keep_theirs():
    preview = P.data_figure([[0.0, 0.0], [1.0, 1.0]], [0, 1], "classification", "t")
    assert all(t.marker.line.width == 0 for t in preview.data)  # blank background: the ring only cost draw time
    p1 = torch.tensor([[0.1, 0.9], [0.4, 0.6]])
    boundary = P.boundary_figure(_grid(torch.stack([1 - p1, p1], -1)), [[0.0, 0.0], [1.0, 1.0]], [0, 1], epoch=2)
    assert [t.marker.line.width for t in boundary.data[1:]] == [0.5, 0.5]  # a class-0 point on class-0 colour
