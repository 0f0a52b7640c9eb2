"""The fused training step (engine/train/fused.py): our hand-derived backward as one step without autograd.

Its gradients equal autograd's (float64: to rounding; float32: within 1e-5), a trainer run with it follows
the autograd run's trajectory with the same metrics and health rows, it is bitwise reproducible from a seed,
and kinds it does not cover fall back to autograd and say so."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from engine.train import fused, loop
from engine.train.config import TrainConfig
from engine.train.fused import FusedStep, fused_problem
from engine.train.loop import train
from engine.train.model import build_model

SMALL = dict(dataset="moons", n_samples=160, noise=0.1, layers="8:tanh,8:relu,2:identity", loss="cross_entropy",
             batch_size=16, epochs=3, val_fraction=0.25, log_every=1, stats_every=5, optimizer="sgd", lr=0.1,
             momentum=0.9, seed=4)


def model_of(layers: str, n_in: int, seed: int = 0, dtype=torch.float64):
    cfg = TrainConfig(dataset="moons", layers=layers, seed=seed, init="xavier")
    return build_model(cfg, n_in, torch.device("cpu")).to(dtype)


def autograd_grads(model, loss: str, x, t) -> tuple[float, list[torch.Tensor]]:
    """The reference: torch's modules and autograd on the same parameters."""
    model.zero_grad(set_to_none=True)
    out = model(x)
    value = {"cross_entropy": F.cross_entropy, "mse": F.mse_loss, "bce": F.binary_cross_entropy}[loss](out, t)
    value.backward()
    return value.item(), [p.grad.clone() for p in model.parameters()]


CASES = [  # (layers, loss, targets)
    ("7:relu,5:tanh,3:identity", "cross_entropy", "classes"),
    ("6:leaky_relu,4:sigmoid,2:identity", "mse", "values"),
    ("5:tanh,1:sigmoid", "bce", "binary"),
    ("3:identity", "cross_entropy", "classes"),  # one layer: no ∂L/∂x buffer at all
]


@pytest.mark.parametrize("layers,loss,kind", CASES)
@pytest.mark.parametrize("rows", [9, 4])  # 4: a short last batch uses the first rows of each buffer
def test_fused_gradients_equal_autograd_in_float64(layers, loss, kind, rows):
    gen = torch.Generator().manual_seed(1)
    model = model_of(layers, 4)
    k = model.linears[-1].out_features
    x = torch.randn(rows, 4, generator=gen, dtype=torch.float64)
    t = {"classes": torch.randint(0, k, (rows,), generator=gen),
         "values": torch.randn(rows, k, generator=gen, dtype=torch.float64),
         "binary": torch.randint(0, 2, (rows, k), generator=gen).double()}[kind]
    want_loss, want = autograd_grads(model, loss, x, t)
    for p in model.parameters():
        p.grad = torch.full_like(p, 1e3)  # stale values that must be overwritten, not added to
    step = FusedStep(model, loss, batch=9)
    got_loss, out, zs = step(x, t)
    assert got_loss.item() == pytest.approx(want_loss, rel=1e-14)
    assert [z.shape for z in zs] == [(rows, m.out_features) for m in model.linears]
    for p, g in zip(model.parameters(), want, strict=True):
        torch.testing.assert_close(p.grad, g, rtol=1e-12, atol=1e-14)


def test_fused_sgd_steps_follow_autograd_steps_in_float64():
    """Ten SGD-momentum steps from the same start: the weights stay equal to rounding."""
    gen = torch.Generator().manual_seed(2)
    ref, ours = model_of("16:relu,8:relu,3:identity", 6), model_of("16:relu,8:relu,3:identity", 6)
    opt_ref = torch.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
    opt_ours = torch.optim.SGD(ours.parameters(), lr=0.1, momentum=0.9)
    step = FusedStep(ours, "cross_entropy", batch=12)
    for _ in range(10):
        x, t = torch.randn(12, 6, generator=gen, dtype=torch.float64), torch.randint(0, 3, (12,), generator=gen)
        autograd_grads(ref, "cross_entropy", x, t)
        step(x, t)
        opt_ref.step()
        opt_ours.step()
    for a, b in zip(ours.parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-13)


def events(cfg: TrainConfig) -> list:
    return list(train(cfg))


def of(evs, kind: str) -> list[dict]:
    return [e.data for e in evs if e.kind == kind]


def test_a_fused_run_follows_the_autograd_run_with_the_same_metrics_and_health_rows():
    """float32: the same batches and the same products in another order, so losses differ by rounding only
    (stated tolerance: rtol 1e-5)."""
    a, f = events(TrainConfig(**SMALL, backward="autograd")), events(TrainConfig(**SMALL, backward="fused"))
    assert of(f, "start")[0]["path"].startswith("fused step")
    assert of(a, "start")[0]["path"] == "autograd"
    assert [e.kind for e in a] == [e.kind for e in f]  # same events: steps, layers, epochs, histograms, end
    steps = [(d["step"], d["loss"]) for d in of(a, "step")], [(d["step"], d["loss"]) for d in of(f, "step")]
    assert [s for s, _ in steps[0]] == [s for s, _ in steps[1]]
    torch.testing.assert_close(torch.tensor([v for _, v in steps[1]]), torch.tensor([v for _, v in steps[0]]),
                               rtol=1e-5, atol=1e-6)
    for want, got in zip(of(a, "epoch"), of(f, "epoch"), strict=True):
        for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy"):
            assert got[key] == pytest.approx(want[key], rel=1e-5, abs=1e-6), key
    rows = of(a, "layers"), of(f, "layers")
    assert [r["step"] for r in rows[0]] == [r["step"] for r in rows[1]]
    for want, got in zip(rows[0], rows[1], strict=True):
        assert got["rows"][0].keys() == want["rows"][0].keys()
        for w_row, g_row in zip(want["rows"], got["rows"], strict=True):
            for key, value in w_row.items():
                assert g_row[key] == pytest.approx(value, rel=1e-4, abs=1e-6), key
    hist = of(a, "histograms")[-1]["rows"], of(f, "histograms")[-1]["rows"]
    assert [(r["layer"], r["kind"]) for r in hist[0]] == [(r["layer"], r["kind"]) for r in hist[1]]


def test_a_fused_run_is_bitwise_reproducible_from_its_seed():
    one, two = events(TrainConfig(**SMALL)), events(TrainConfig(**SMALL))
    assert [d["loss"] for d in of(one, "step")] == [d["loss"] for d in of(two, "step")]
    assert of(one, "layers") == of(two, "layers")
    for p, q in zip(one[-1].data["model"].parameters(), two[-1].data["model"].parameters(), strict=True):
        assert torch.equal(p, q)
    other = events(TrainConfig(**{**SMALL, "seed": 5}))
    assert [d["loss"] for d in of(other, "step")] != [d["loss"] for d in of(one, "step")]


def test_the_fused_step_calls_no_autograd(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("autograd was called")

    monkeypatch.setattr(torch.Tensor, "backward", refuse)
    monkeypatch.setattr(torch.autograd, "backward", refuse)
    assert events(TrainConfig(**SMALL))[-1].kind == "finished"
    with pytest.raises(AssertionError, match="autograd was called"):
        events(TrainConfig(**SMALL, backward="autograd"))


def test_kinds_the_fused_step_does_not_cover_train_with_autograd_and_say_so(monkeypatch):
    monkeypatch.setattr(fused, "FUSED_KINDS", ())  # as if linear were a kind the fused step had not learned yet
    model = build_model(TrainConfig(**SMALL), 2, torch.device("cpu"))
    assert fused_problem(model, "cross_entropy") == "the fused step does not cover linear layers yet"
    got, want = events(TrainConfig(**SMALL)), events(TrainConfig(**SMALL, backward="autograd"))
    assert of(got, "start")[0]["path"] == "autograd (the fused step does not cover linear layers yet)"
    assert [d["loss"] for d in of(got, "step")] == [d["loss"] for d in of(want, "step")]  # the same path, bitwise


def test_the_optimizer_takes_torchs_fused_kernel_where_there_is_one():
    run_cfg = TrainConfig(**SMALL)
    model = build_model(run_cfg, 2, torch.device("cpu"))
    assert loop._optimizer(run_cfg, model).defaults.get("fused") is True
    rms = TrainConfig(**{**SMALL, "optimizer": "rmsprop", "lr": 0.01})  # torch has no fused RMSprop: its default
    assert not loop._optimizer(rms, model).defaults.get("fused")
    manual = TrainConfig(**{**SMALL, "impl": "manual"})
    assert type(loop._optimizer(manual, model)).__module__ == "engine.core.optim"


def test_cuda_graphs_are_chosen_for_sgd_at_a_constant_rate_and_small_batches():
    cuda = torch.device("cuda")  # a device object needs no GPU; the decision is what is tested here
    sgd = TrainConfig(**SMALL)
    assert fused.graph_problem(sgd, torch.device("cpu"), 64) == "not on CUDA"
    assert fused.graph_problem(sgd, cuda, 64) is None
    assert "batch > 4096" in fused.graph_problem(sgd, cuda, 8192)
    for change in ({"optimizer": "adam", "lr": 0.01}, {"lr_schedule": "cosine"}, {"impl": "manual"}):
        assert "constant learning rate" in fused.graph_problem(TrainConfig(**{**SMALL, **change}), cuda, 64)


@pytest.mark.parametrize("layers,named", [("8:relu,bn,drop0.1,2:identity", "batchnorm, dropout"),
                                          ("8:relu,ln,res[8:relu,8:identity]:relu,2:identity", "layernorm, residual")])
def test_batchnorm_dropout_layernorm_residual_train_with_autograd_and_say_so(layers, named):
    cfg = dict(SMALL, layers=layers)
    torch.manual_seed(0)  # training dropout draws its masks from torch's global generator (main's dropout kind)
    got = events(TrainConfig(**cfg))
    torch.manual_seed(0)
    want = events(TrainConfig(**cfg, backward="autograd"))
    assert of(got, "start")[0]["path"] == f"autograd (the fused step does not cover {named} layers yet)"
    assert got[-1].kind == "finished"
    assert [d["loss"] for d in of(got, "step")] == [d["loss"] for d in of(want, "step")]  # the same path, bitwise
