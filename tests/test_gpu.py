"""The CUDA path: the fused step stays on the device with no host sync between logging points, and its CUDA
graph replays give the eager step's numbers. Skipped without a CUDA GPU (bench/gpu_check.sh runs them)."""
from __future__ import annotations

import pytest
import torch

from engine.train import fused
from engine.train.config import TrainConfig
from engine.train.fused import FusedStep, GraphedStep
from engine.train.loop import _optimizer, train
from engine.train.model import build_model, predictions

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (none visible to torch)")]

SMALL = dict(dataset="moons", n_samples=400, noise=0.1, layers="16:relu,16:tanh,2:identity", loss="cross_entropy",
             batch_size=32, epochs=2, val_fraction=0.2, optimizer="sgd", lr=0.1, momentum=0.9, seed=3)


def losses(cfg: TrainConfig) -> list[float]:
    return [e.data["loss"] for e in train(cfg) if e.kind == "step"]


def test_fused_steps_and_their_metrics_never_wait_for_the_host():
    cfg = TrainConfig(**SMALL, device="cuda")
    model = build_model(cfg, 2, torch.device("cuda"))
    opt, step = _optimizer(cfg, model), FusedStep(model, "cross_entropy", 32)
    x, y = torch.randn(320, 2, device="cuda"), torch.randint(0, 2, (320,), device="cuda")
    kept, hits = [], []
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")  # any implicit device → host copy raises
    try:
        for b in range(10):
            xb, yb = x[b * 32:(b + 1) * 32], y[b * 32:(b + 1) * 32]
            loss, out, _ = step(xb, yb)
            opt.step()
            kept.append(loss.detach())
            hits.append(predictions(out) == yb)
    finally:
        torch.cuda.set_sync_debug_mode(0)
    assert torch.isfinite(torch.stack(kept)).all()


def test_cuda_runs_follow_the_cpu_run_and_graph_replays_follow_eager_steps(monkeypatch):
    on_cpu = losses(TrainConfig(**SMALL, device="cpu"))
    start = next(e for e in train(TrainConfig(**SMALL, device="cuda")) if e.kind == "start")
    assert start.data["path"].endswith("replayed as a CUDA graph")
    graphed = losses(TrainConfig(**SMALL, device="cuda"))
    monkeypatch.setattr(fused, "GRAPH_MAX_BATCH", 0)  # the same run without graphs
    eager = losses(TrainConfig(**SMALL, device="cuda"))
    torch.testing.assert_close(torch.tensor(graphed), torch.tensor(eager), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(torch.tensor(eager), torch.tensor(on_cpu), rtol=1e-4, atol=1e-5)


def test_a_graphed_step_is_the_eager_step():
    torch.manual_seed(0)
    cfg = TrainConfig(**SMALL, device="cuda")
    a, b = build_model(cfg, 2, torch.device("cuda")), build_model(cfg, 2, torch.device("cuda"))
    opt_a, opt_b = _optimizer(cfg, a), _optimizer(cfg, b)
    step_a, graphed = FusedStep(a, "cross_entropy", 32), None
    x, y = torch.randn(32 * 8, 2, device="cuda"), torch.randint(0, 2, (32 * 8,), device="cuda")
    graphed = GraphedStep(FusedStep(b, "cross_entropy", 32), opt_b, x, y, 32)
    for k in range(8):  # 3 warm-up steps, the capture, then replays
        xb, yb = x[k * 32:(k + 1) * 32], y[k * 32:(k + 1) * 32]
        want, _, _ = step_a(xb, yb)
        opt_a.step()
        got, _ = graphed(xb, yb)
        torch.testing.assert_close(got, want)
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(p, q)
