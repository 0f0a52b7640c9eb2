"""Gradient health: per-layer stats equal an independent computation, flags fire at the documented
thresholds, histograms count every weight."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from engine.core.layers import Linear
from engine.core.layers.modules import LayerModule
from engine.core.ops import ACTIVATIONS
from engine.train import health
from engine.train.config import TrainConfig
from engine.train.loop import load_data, train
from engine.train.model import build_model

CFG = dict(dataset="moons", n_samples=100, noise=0.1, layers="6:relu,5:tanh,2:identity", loss="cross_entropy",
           optimizer="sgd", lr=0.2, momentum=0.9, batch_size=20, epochs=2, val_fraction=0.2, stats_every=3,
           log_every=4, seed=7)


def _reference_rows(cfg: TrainConfig) -> dict[int, list[dict]]:
    """Per-layer stats at every stats step from a plain nn.Linear loop with hooks on each layer's output."""
    data = load_data(cfg)
    init = build_model(cfg, data.input_size, torch.device("cpu"))
    linears = [nn.Linear(lin.in_features, lin.out_features) for lin in init.linears]
    for ref, lin in zip(linears, init.linears, strict=True):
        ref.load_state_dict(lin.state_dict())
    acts = [nn.ReLU(), nn.Tanh(), nn.Identity()]
    net = nn.Sequential(*[m for pair in zip(linears, acts, strict=True) for m in pair])
    zs: dict[int, torch.Tensor] = {}
    for i, lin in enumerate(linears):
        lin.register_forward_hook(lambda mod, inp, out, i=i: zs.__setitem__(i, out.detach()))
    opt = torch.optim.SGD(net.parameters(), lr=cfg.lr, momentum=cfg.momentum)
    order = torch.Generator().manual_seed(cfg.seed + 1)
    rows, step = {}, 0
    last = cfg.epochs * -(-len(data.x_train) // cfg.batch_size)  # the run's final step is recorded too
    for _ in range(cfg.epochs):
        perm = torch.randperm(len(data.x_train), generator=order)
        for i in range(0, len(perm), cfg.batch_size):
            idx = perm[i:i + cfg.batch_size]
            loss = nn.functional.cross_entropy(net(data.x_train[idx]), data.y_train[idx])
            opt.zero_grad()
            loss.backward()
            before = [lin.weight.detach().clone() for lin in linears]
            grads = [lin.weight.grad.clone() for lin in linears]
            opt.step()
            step += 1
            if (step - 1) % cfg.stats_every and step != last:
                continue
            rows[step] = []
            for k, (lin, act) in enumerate(zip(linears, acts, strict=True)):
                a = act(zs[k])
                rows[step].append({
                    "grad_norm": grads[k].pow(2).sum().sqrt().item(),
                    "weight_norm": before[k].pow(2).sum().sqrt().item(),
                    "update_ratio": ((lin.weight.detach() - before[k]).pow(2).sum().sqrt()
                                     / before[k].pow(2).sum().sqrt()).item(),
                    "dead_fraction": (zs[k].max(dim=0).values <= 0).float().mean().item() if k == 0 else 0.0,
                    "act_mean": a.mean().item(), "act_std": a.std(unbiased=False).item(),
                    "weight_max": before[k].abs().max().item(), "grad_max": grads[k].abs().max().item(),
                    "act_max": a.abs().max().item()})
    return rows


def test_layer_stats_equal_an_independent_hooked_computation():
    cfg = TrainConfig(**CFG)
    got = {ev.data["step"]: ev.data["rows"] for ev in train(cfg) if ev.kind == "layers"}
    expected = _reference_rows(cfg)
    assert sorted(got) == sorted(expected) == [1, 4, 7, 8]  # 4 steps per epoch, stats every 3rd step and the last
    for step, rows in got.items():
        assert [r["layer"] for r in rows] == [1, 2, 3] and all(r["step"] == step for r in rows)
        assert [r["epoch"] for r in rows] == [1 if step <= 4 else 2] * 3
        for row, ref in zip(rows, expected[step], strict=True):
            for key, value in ref.items():
                assert row[key] == pytest.approx(value, rel=1e-5, abs=1e-7), (step, row["layer"], key)


def test_a_relu_layer_forced_dead_is_flagged():
    cfg = TrainConfig(**{**CFG, "stats_every": 1, "epochs": 1})
    rows = []
    for ev in train(cfg):
        if ev.kind == "start":  # paused before the first step: kill layer 1 with a big negative bias
            with torch.no_grad():
                ev.data["model"].linears[0].bias.fill_(-100.0)
        elif ev.kind == "layers":
            rows.append(ev.data["rows"][0])
    assert len(rows) == 4
    for row in rows:
        assert row["dead_fraction"] == 1.0
        assert row["grad_norm"] == 0.0  # a dead layer passes no gradient to its weights
        assert row["act_mean"] == 0.0 and row["act_std"] == 0.0
        flags = health.flags(row)
        assert any("100% of ReLUs dead" in f for f in flags)
        assert any("vanishing gradient" in f for f in flags)


def test_a_saturated_sigmoid_layer_is_flagged():
    cfg = TrainConfig(**{**CFG, "layers": "6:sigmoid,2:identity", "stats_every": 1, "epochs": 1})
    rows = []
    for ev in train(cfg):
        if ev.kind == "start":
            with torch.no_grad():
                ev.data["model"].linears[0].bias.fill_(50.0)  # σ(z) ≈ 1, σ'(z) ≈ 0 everywhere
        elif ev.kind == "layers":
            rows.append(ev.data["rows"][0])
    assert all(r["saturated_fraction"] == 1.0 and r["dead_fraction"] == 0.0 for r in rows)
    assert any("100% saturated" in f for f in health.flags(rows[0]))


@pytest.mark.parametrize("row,expected", [
    ({"grad_norm": 1e-3, "update_ratio": 1e-3, "dead_fraction": 0.1}, []),
    ({"grad_norm": 0.9e-6}, ["vanishing gradient"]),
    ({"grad_norm": 1.1e-6}, []),
    ({"grad_norm": 1.1e3}, ["exploding gradient"]),
    ({"grad_norm": 0.9e3}, []),
    ({"grad_norm": 1.0, "update_ratio": 0.11}, ["updates too large"]),
    ({"grad_norm": 1.0, "update_ratio": 0.09}, []),
    ({"grad_norm": 1.0, "dead_fraction": 0.51}, ["51% of ReLUs dead"]),
    ({"grad_norm": 1.0, "dead_fraction": 0.5}, []),
    ({"grad_norm": 1.0, "saturated_fraction": 0.75}, ["75% saturated"]),
    ({"grad_norm": float("nan"), "update_ratio": None, "dead_fraction": None}, []),
    ({"grad_norm": 1e-9, "update_ratio": 0.5, "dead_fraction": 0.9}, ["vanishing", "updates too large", "dead"]),
])
def test_flags_fire_at_the_documented_thresholds(row, expected):
    flags = health.flags(row)
    assert len(flags) == len(expected)
    for flag, want in zip(flags, expected, strict=True):
        assert want in flag


def test_thresholds_are_the_documented_ones():
    assert (health.VANISHING, health.EXPLODING, health.UPDATE_TOO_LARGE, health.DEAD_TOO_MANY) == (1e-6, 1e3, 0.1, 0.5)


@pytest.mark.parametrize("init", ["kaiming", "zeros"])
def test_histograms_count_every_weight_and_gradient(init):
    cfg = TrainConfig(**{**CFG, "init": init, "epochs": 2})
    evs = list(train(cfg))
    hists = [ev.data for ev in evs if ev.kind == "histograms"]
    assert [h["epoch"] for h in hists] == [1, 2]
    model = evs[-1].data["model"]
    for h in hists:
        assert sorted((r["layer"], r["kind"]) for r in h["rows"]) == [(i, k) for i in (1, 2, 3)
                                                                       for k in ("grad", "weight")]
        for r in h["rows"]:
            assert sum(r["counts"]) == model.linears[r["layer"] - 1].weight.numel()
            assert len(r["counts"]) == health.HIST_BINS and len(r["edges"]) == health.HIST_BINS + 1
            assert all(a < b for a, b in zip(r["edges"], r["edges"][1:], strict=False))
    last = {(r["layer"], r["kind"]): r for r in hists[-1]["rows"]}
    for i, lin in enumerate(model.linears, start=1):
        w = lin.weight.detach()
        edges = last[(i, "weight")]["edges"]
        if w.min() < w.max():
            assert edges[0] == pytest.approx(w.min().item()) and edges[-1] == pytest.approx(w.max().item())


def test_histograms_skip_missing_or_nonfinite_gradients():
    lin = LayerModule(Linear(1, 3, 2))
    nn.init.normal_(lin.weight)
    model = nn.Module()
    model.linears = nn.ModuleList([lin])
    assert [r["kind"] for r in health.histograms(model)] == ["weight"]  # no gradient yet
    lin.weight.grad = torch.full_like(lin.weight, math.inf)
    assert [r["kind"] for r in health.histograms(model)] == ["weight"]


def _stats_with_z(activation: str, z_value: float) -> list[float]:
    """pre_step_stats' row for a one-layer model whose z is z_value on every row (W = 0, b = z_value)."""
    cfg = TrainConfig(dataset="moons", layers=f"3:{activation},2:identity", seed=0)
    model = build_model(cfg, 2, torch.device("cpu"))
    with torch.no_grad():
        model.linears[0].weight.zero_()
        model.linears[0].bias.fill_(z_value)
    out, zs = model(torch.randn(5, 2), record=True)
    outputs = [act(z) for act, z in zip(model.acts, zs, strict=True)]
    pre, _ = health.pre_step_stats(model, zs, outputs)
    return pre[0].tolist()  # grad_norm, weight_norm, dead, saturated, mean, std


def test_leaky_relu_units_are_never_counted_dead():
    # z = −5 on every row: a ReLU is dead, a leaky ReLU still passes 0.01 of the gradient
    assert _stats_with_z("relu", -5.0)[2] == 1.0
    assert _stats_with_z("leaky_relu", -5.0)[2] == 0.0
    assert health.flags({"dead_fraction": _stats_with_z("leaky_relu", -5.0)[2]}) == []


def test_dead_rule_is_z_at_most_zero_for_every_row():
    assert _stats_with_z("relu", 0.0)[2] == 1.0  # z = 0 exactly: φ'(0) = 0, no gradient passes
    assert _stats_with_z("relu", 1e-12)[2] == 0.0  # the smallest positive z passes the full gradient


@pytest.mark.parametrize(("activation", "slope"), [
    ("sigmoid", lambda z: torch.sigmoid(z) * (1 - torch.sigmoid(z))),
    ("tanh", lambda z: 1 - torch.tanh(z) ** 2),
])
def test_saturation_threshold_is_a_slope_of_one_hundredth(activation, slope):
    """Saturated means φ'(z) < 0.01: found by bisection on φ' here, just inside and just outside count."""
    lo, hi = torch.tensor(0.0, dtype=torch.float64), torch.tensor(20.0, dtype=torch.float64)
    for _ in range(80):  # φ' falls with |z|: find z* where φ'(z*) = 0.01
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if slope(mid) > 0.01 else (lo, mid)
    z_star = float(lo)
    assert _stats_with_z(activation, z_star * 1.02)[3] == 1.0
    assert _stats_with_z(activation, z_star * 0.98)[3] == 0.0
    assert _stats_with_z(activation, -z_star * 1.02)[3] == 1.0


class _Clock:
    """A fake clock: each plain step takes `step_s`, each stats call `stats_s` (the cadence reads it)."""

    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def _auto_due(total: int, step_s: float, stats_s: float) -> list[int]:
    clock = _Clock()
    cadence = health.StatsCadence(None, total, clock=clock)
    due = []
    for s in range(total):
        clock.t += step_s
        if cadence.due(s):
            due.append(s + 1)
            clock.t += stats_s
            cadence.recorded(s, stats_s)
    return due


def test_auto_cadence_records_every_step_while_stats_are_cheap():
    assert _auto_due(625, step_s=1e-3, stats_s=1e-5) == list(range(1, 626))  # 1 % of a step: within the budget


def test_auto_cadence_keeps_stats_within_the_budget():
    """Stats at 60 % of a step (an MNIST step here), budget 5 %: every ⌈0.6 / 0.05⌉ = 12th step (13th where
    rounding tips the measured ratio over 12), so at most ~5 % of the run's time goes to stats."""
    assert health.STATS_BUDGET == 0.05
    due = _auto_due(938, step_s=1e-3, stats_s=6e-4)
    assert due[:2] == [1, 13] and {b - a for a, b in zip(due, due[1:], strict=False)} <= {12, 13}
    stats_time = len(due) * 6e-4
    assert stats_time / (938 * 1e-3 + stats_time) <= 0.05


@pytest.mark.parametrize(("total", "every"), [(5001, 2), (12_000, 3), (50_000, 10)])
def test_auto_cadence_is_never_denser_than_5000_records(total, every):
    due = _auto_due(total, step_s=1e-3, stats_s=1e-6)  # cheap stats: the floor ⌈steps / 5 000⌉ decides
    assert due == list(range(1, total + 1, every)) and len(due) <= 5000


def test_a_fixed_cadence_is_kept():
    cadence = health.StatsCadence(3, 100_000)
    assert [s + 1 for s in range(10) if cadence.due(s)] == [1, 4, 7, 10]


def _stats_steps(**changes) -> list[int]:
    cfg = TrainConfig(**{**CFG, **changes})
    return [ev.data["step"] for ev in train(cfg) if ev.kind == "layers"]


def test_a_run_at_every_step_has_a_stats_row_for_every_step():
    assert _stats_steps(epochs=3, stats_every=1) == list(range(1, 13))  # 80 rows, batch 20: 4 steps an epoch


def test_a_run_over_the_limit_is_sampled_evenly(monkeypatch):
    """The loop follows the cadence: with the limit at 10 records (5 000 in the app; the stride rule is tested
    above) and the budget lifted, a 26-step run records every ⌈26 / 10⌉ = 3rd step and its last."""
    monkeypatch.setattr(health, "MAX_STATS_STEPS", 10)
    monkeypatch.setattr(health, "STATS_BUDGET", 1e9)
    steps = _stats_steps(batch_size=10, epochs=4, max_steps=26, stats_every=None)  # 8 steps an epoch
    assert steps == [*range(1, 26, 3), 26]


def test_dead_units_counted_by_hand_including_zero_and_nan_columns():
    z = torch.randn(7, 6).abs()
    z[:, 0] = -torch.rand(7)  # every row < 0: dead
    z[:, 1] = 0.0  # every row exactly 0: dead (φ'(0) = 0)
    z[:, 2] = -1.0
    z[3, 2] = 1e-12  # one row positive: alive
    z[:, 3] = -1.0
    z[2, 3] = float("nan")  # a NaN is not ≤ 0: not counted dead
    assert ACTIVATIONS["relu"].dead_fraction(z).item() == pytest.approx(2 / 6, rel=1e-7)
