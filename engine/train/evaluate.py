"""Evaluation without gradients: loss and accuracy on a split, and the test report (confusion matrix,
misclassified examples) at the end of a run."""
from __future__ import annotations

import torch

from engine.train.model import predictions, targets

CHUNK = 8192  # rows per forward pass: bounds memory on MNIST-sized splits
MAX_MISCLASSIFIED = 64


@torch.no_grad()
def _outputs(run, x: torch.Tensor) -> torch.Tensor:
    """The model in evaluation mode (BatchNorm's running statistics, no dropout), then back to training."""
    x = x.to(run.device)
    was_training = run.model.training
    run.model.eval()
    try:
        return torch.cat([run.model(x[i:i + CHUNK]) for i in range(0, len(x), CHUNK)])
    finally:
        run.model.train(was_training)


@torch.no_grad()
def evaluate(run, x: torch.Tensor, y: torch.Tensor) -> dict:
    """{"loss", "accuracy"} on (x, y); both None for an empty split. Loss uses the run's reduction (mean)."""
    if len(x) == 0:
        return {"loss": None, "accuracy": None}
    out = _outputs(run, x)
    y = y.to(run.device)
    loss = run.loss(out, targets(run.cfg, run.data, y)).item()
    acc = (predictions(out) == y).float().mean().item() if run.classify else None
    return {"loss": loss, "accuracy": acc}


def confusion_matrix(pred: torch.Tensor, y: torch.Tensor, k: int) -> torch.Tensor:
    """C[i, j] = number of rows with true class i predicted as j; shape (k, k)."""
    return torch.bincount(y * k + pred, minlength=k * k).reshape(k, k)


@torch.no_grad()
def test_report(run) -> dict:
    """Test accuracy (MNIST's official test set; None where there is none) and, for classification,
    the confusion matrix and the first misclassified rows of the test split (or the validation split)."""
    data = run.data
    has_test = data.x_test is not None and len(data.x_test) > 0
    x, y, split = (data.x_test, data.y_test, "test") if has_test else (data.x_val, data.y_val, "val")
    report = {"test_accuracy": None}
    if not run.classify or len(x) == 0:
        return report
    pred = predictions(_outputs(run, x)).cpu()
    y = y.cpu()
    wrong = torch.nonzero(pred != y).flatten()[:MAX_MISCLASSIFIED]
    if has_test:
        report["test_accuracy"] = (pred == y).float().mean().item()
    report.update({"report_split": split, "confusion": confusion_matrix(pred, y, data.n_classes).tolist(),
                   "misclassified": [{"index": int(i), "label": int(y[i]), "pred": int(pred[i])} for i in wrong]})
    return report
