"""BatchNorm, LayerNorm, dropout and residual blocks: each against its torch module, random stacks of all
kinds traced three ways, bad specs, and training with the hand-written backward."""
from __future__ import annotations

import dataclasses
import json

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from engine.__main__ import main
from engine.core.layers import BatchNorm, Context, Dropout, LayerNorm, Linear, Residual
from engine.core.layers.modules import LayerModule
from engine.inspector.spec import NetworkSpec, SpecError
from engine.inspector.trace import trace
from engine.train.boundary import boundary_grid, grid_bounds
from engine.train.config import TrainConfig
from engine.train.loop import load_data, train

D = torch.float64


def _module(kind, manual: bool, params: dict) -> LayerModule:
    m = LayerModule(kind, manual_backward=manual, dtype=D)
    with torch.no_grad():
        for name, value in params.items():
            getattr(m, name.replace(".", "_")).copy_(value)
    return m


# ---------------------------------------------------------------- each kind against its torch module

@pytest.mark.parametrize("manual", [False, True])
def test_batchnorm_equals_nn_batchnorm1d_in_training_and_in_eval_after_steps(manual):
    g = torch.Generator().manual_seed(0)
    gamma, beta = torch.rand(5, generator=g, dtype=D) + 0.5, torch.randn(5, generator=g, dtype=D)
    ref = nn.BatchNorm1d(5, eps=1e-5, momentum=0.1).to(D)
    with torch.no_grad():
        ref.weight.copy_(gamma), ref.bias.copy_(beta)
    ours = _module(BatchNorm(1, 5), manual, {"weight": gamma, "bias": beta})
    for _ in range(4):  # n training steps move the running statistics
        x = (torch.randn(6, 5, generator=g, dtype=D) * 3 + 1).requires_grad_()
        up = torch.randn(6, 5, generator=g, dtype=D)
        z_ref, z = ref(x), ours(x)
        torch.testing.assert_close(z, z_ref, rtol=0, atol=1e-12)
        (g_ref,) = torch.autograd.grad((z_ref * up).sum(), x)
        gx, gw, gb = torch.autograd.grad((z * up).sum(), [x, ours.weight, ours.bias])
        torch.testing.assert_close(gx, g_ref, rtol=0, atol=1e-10)
        gw_ref, gb_ref = torch.autograd.grad((ref(x) * up).sum(), [ref.weight, ref.bias])
        torch.testing.assert_close(gw, gw_ref, rtol=0, atol=1e-10)
        torch.testing.assert_close(gb, gb_ref, rtol=0, atol=1e-10)
    # the running statistics after n steps (the loop above ran the reference twice a step): from the start again
    x = torch.randn(3, 5, generator=g, dtype=D)
    ref.running_mean.zero_(), ref.running_var.fill_(1)
    ours.running_mean_1.zero_(), ours.running_var_1.fill_(1)
    for _ in range(3):
        xb = torch.randn(6, 5, generator=g, dtype=D) * 2 - 1
        ref(xb), ours(xb)
    torch.testing.assert_close(ours.running_mean_1, ref.running_mean, rtol=0, atol=1e-12)
    torch.testing.assert_close(ours.running_var_1, ref.running_var, rtol=0, atol=1e-12)
    assert not torch.allclose(ref.running_var, torch.ones(5, dtype=D))
    ref.eval(), ours.eval()
    xe = x.clone().requires_grad_()
    torch.testing.assert_close(ours(xe), ref(x), rtol=0, atol=1e-12)
    (ge,) = torch.autograd.grad(ours(xe).sum(), xe)
    torch.testing.assert_close(ge, (gamma / torch.sqrt(ref.running_var + 1e-5)).expand(3, 5), rtol=0, atol=1e-12)


def test_batchnorm_manual_backward_is_the_compact_form_not_the_frozen_statistics_one():
    """The gradient through μ and σ² matters: Σ_rows ∂L/∂x = 0 for every feature (shifting a whole column does
    not change x̂), which the naive δγ/σ (statistics treated as constants) does not satisfy."""
    g = torch.Generator().manual_seed(1)
    x, delta = torch.randn(5, 3, generator=g, dtype=D), torch.randn(5, 3, generator=g, dtype=D)
    layer = BatchNorm(1, 3)
    params = {"weight": torch.tensor([1.0, 2.0, 0.5], dtype=D), "bias": torch.zeros(3, dtype=D)}
    _, cache = layer.forward(params, x, Context())
    _, gx = layer.backward(params, cache, delta)
    torch.testing.assert_close(gx.sum(dim=0), torch.zeros(3, dtype=D), rtol=0, atol=1e-12)
    xr = x.clone().requires_grad_()
    (expected,) = torch.autograd.grad((F.batch_norm(xr, None, None, params["weight"], params["bias"], True)
                                       * delta).sum(), xr)
    torch.testing.assert_close(gx, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("manual", [False, True])
def test_layernorm_equals_nn_layernorm(manual):
    g = torch.Generator().manual_seed(2)
    ref = nn.LayerNorm(4).to(D)
    with torch.no_grad():
        ref.weight.copy_(torch.rand(4, generator=g, dtype=D) + 0.5)
        ref.bias.copy_(torch.randn(4, generator=g, dtype=D))
    ours = _module(LayerNorm(1, 4), manual, {"weight": ref.weight.detach(), "bias": ref.bias.detach()})
    x = torch.randn(3, 4, generator=g, dtype=D, requires_grad=True)
    up = torch.randn(3, 4, generator=g, dtype=D)
    torch.testing.assert_close(ours(x), ref(x), rtol=0, atol=1e-12)
    got = torch.autograd.grad((ours(x) * up).sum(), [x, ours.weight, ours.bias])
    want = torch.autograd.grad((ref(x) * up).sum(), [x, ref.weight, ref.bias])
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-10)


def test_dropout_with_torch_s_mask_equals_f_dropout_and_is_the_identity_in_eval():
    x = torch.randn(6, 5, dtype=D, generator=torch.Generator().manual_seed(3)).requires_grad_()
    torch.manual_seed(11)
    ref = F.dropout(x, 0.4, training=True)
    torch.manual_seed(11)
    mask = F.dropout(torch.ones(6, 5, dtype=D), 0.4, training=True) * 0.6  # torch's mask, as 0/1
    layer = Dropout(1, 5, p=0.4)
    ctx = Context(state={1: {"mask": mask}})
    z, cache = layer.forward({}, x.detach(), ctx)
    torch.testing.assert_close(z, ref.detach(), rtol=0, atol=1e-12)
    torch.testing.assert_close(layer.torch_forward({}, x, ctx), ref, rtol=0, atol=1e-12)
    up = torch.randn(6, 5, dtype=D)
    (want,) = torch.autograd.grad((ref * up).sum(), x)
    torch.testing.assert_close(layer.backward({}, cache, up)[1], want, rtol=0, atol=1e-12)
    torch.testing.assert_close(layer.forward({}, x.detach(), Context(training=False))[0], x.detach())


@pytest.mark.parametrize("manual", [False, True])
def test_residual_block_equals_phi_of_x_plus_nn_sequential(manual):
    g = torch.Generator().manual_seed(4)
    seq = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 3), nn.Tanh()).to(D)
    block = Residual(1, 3, activation="tanh", children=[Linear(2, 3, 5, "relu"), Linear(3, 5, 3, "tanh")])
    params = {"0.weight": seq[0].weight, "0.bias": seq[0].bias, "1.weight": seq[2].weight, "1.bias": seq[2].bias}
    ours = _module(block, manual, {k: v.detach() for k, v in params.items()})
    x = torch.randn(4, 3, generator=g, dtype=D, requires_grad=True)
    up = torch.randn(4, 3, generator=g, dtype=D)
    want_z = x + seq(x)
    torch.testing.assert_close(ours(x), want_z, rtol=0, atol=1e-12)
    got = torch.autograd.grad((torch.tanh(ours(x)) * up).sum(), [x, *ours.parameters()])
    want = torch.autograd.grad((torch.tanh(want_z) * up).sum(), [x, *params.values()])
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-10)


# ---------------------------------------------------------------- random stacks, three ways

ACTS = st.sampled_from(["identity", "tanh", "sigmoid", "relu", "leaky_relu"])


def _layer(draw, depth: int, width: int) -> tuple[dict, int]:
    kinds = ["linear", "batchnorm", "dropout"] + (["layernorm"] if width >= 2 else [])  # LN of 1 feature: β
    kinds += ["residual"] if depth < 2 else []
    kind = draw(st.sampled_from(kinds))
    act = draw(ACTS)
    if kind == "linear":
        units = draw(st.integers(1, 4))
        return {"units": units, "activation": act}, units
    if kind == "dropout":
        return {"type": "dropout", "p": draw(st.sampled_from([0.0, 0.25, 0.5])), "activation": act}, width
    if kind == "residual":
        inner, w = [], width
        for _ in range(draw(st.integers(1, 2))):
            layer, w = _layer(draw, depth + 1, w)
            inner.append(layer)
        inner.append({"units": width, "activation": draw(ACTS)})  # back to the block's width
        return {"type": "residual", "layers": inner, "activation": act}, width
    return {"type": kind, "activation": act}, width


@st.composite
def stacks(draw):
    width = draw(st.integers(1, 3))
    spec = {"input_size": width, "batch": draw(st.integers(3, 5)),  # BatchNorm over 2 rows gives x̂ = ±1 exactly
            "seed": draw(st.integers(0, 10_000)),
            "loss": draw(st.sampled_from(["mse", "cross_entropy"])), "init": "xavier", "layers": []}
    for _ in range(draw(st.integers(1, 4))):
        layer, width = _layer(draw, 0, width)
        spec["layers"].append(layer)
    out = 2 if spec["loss"] == "cross_entropy" else draw(st.integers(1, 2))
    spec["layers"].append({"units": out, "activation": "identity"})
    return spec


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stacks())
def test_random_stacks_of_every_kind_agree_three_ways(d):
    t = trace(NetworkSpec.from_dict(d))
    every = [lt for top in t.layers for lt in top.flat()]
    assert [lt.index for lt in every] == list(range(1, len(every) + 1))  # run order, inner layers included
    # smooth at the scale of h = 1e-6: no normalisation over a (nearly) constant column or row, where ∂/∂x ~ 1/σ
    # and the quotient's O(h²/σ²) error is no longer small (a dropped or dead column before a BatchNorm)
    smooth = all(lt.values["var"].min() > 1e-2 for lt in every if "var" in lt.values)
    for lt in every:
        for name, g in lt.grads.items():
            scale = max(1.0, g.autograd.abs().max().item())
            assert g.max_abs_error <= 1e-10 * scale, (lt.index, name)
            assert g.numerical is not None
            if smooth:
                ok = ~g.kink
                torch.testing.assert_close(g.numerical[ok], g.autograd[ok], rtol=0, atol=1e-6 * max(scale, t.loss))
    assert t.agree or not smooth


def test_a_constant_column_before_a_relu_agrees_manual_and_autograd():
    # Found by the test above (input 1, batch 3, seed 10000): dropout zeroed every row, so BatchNorm normalised a
    # constant column (σ² = 0). Exactly, x̂ = 0 and the ReLU after it sits on its kink, where both columns take
    # ReLU'(0) = 0; but F.batch_norm's fused kernel rounds x̂ to 4.4e-15 > 0, so autograd took the other side and
    # every layer below disagreed by up to 69. The autograd column must differentiate the defining formula.
    # (F.layer_norm is exact on a constant row, so LayerNorm keeps it.)
    spec = {"input_size": 1, "batch": 3, "seed": 10000, "loss": "mse", "init": "xavier", "layers": [
        {"type": "dropout", "p": 0.25},  # the mask drawn from seed 10000 is all zeros
        {"type": "residual", "layers": [{"units": 1, "activation": "sigmoid"}, {"units": 1, "activation": "sigmoid"}]},
        {"type": "batchnorm"}, {"units": 4, "activation": "relu"}, {"units": 1, "activation": "identity"}]}
    t = trace(NetworkSpec.from_dict(spec))
    norm_layer = next(lt for top in t.layers for lt in top.flat() if "var" in lt.values)
    assert norm_layer.values["var"].abs().max().item() < 1e-20  # the degenerate case itself
    for lt in (lt for top in t.layers for lt in top.flat()):
        for name, g in lt.grads.items():
            assert g.max_abs_error <= 1e-10 * max(1.0, g.autograd.abs().max().item()), (lt.index, name)
    assert t.agree


# ---------------------------------------------------------------- the spec and the CLI

def test_inspect_json_reports_every_kind_with_its_values_and_inner_layers(tmp_path, capsys):
    spec = {"input_size": 2, "batch": 3, "layers": [
        {"units": 3, "activation": "tanh"}, {"type": "batchnorm", "eps": 1e-3},
        {"type": "dropout", "p": 0.5, "mask": [[1, 0, 1], [0, 1, 1], [1, 1, 0]]},
        {"type": "residual", "activation": "relu",
         "layers": [{"type": "layernorm"}, {"units": 3, "activation": "tanh"}]},
        {"units": 1, "activation": "identity"}]}
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    assert main(["inspect", "--spec", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    layers = out["layers"]
    assert [(layer["index"], layer["type"]) for layer in layers] == [
        (1, "linear"), (2, "batchnorm"), (3, "dropout"), (4, "residual"), (7, "linear")]
    assert [(i["index"], i["type"]) for i in layers[3]["layers"]] == [(5, "layernorm"), (6, "linear")]
    bn = layers[1]
    x = torch.tensor(layers[0]["a"], dtype=D)
    torch.testing.assert_close(torch.tensor(bn["mean"], dtype=D), x.mean(0))
    torch.testing.assert_close(torch.tensor(bn["var"], dtype=D), x.var(0, unbiased=False))
    torch.testing.assert_close(torch.tensor(bn["z"], dtype=D), F.batch_norm(x, None, None, training=True, eps=1e-3))
    assert set(bn["grads"]) == {"weight", "bias", "z", "a", "input"} and bn["weight"] == [1.0, 1.0, 1.0]
    assert layers[2]["mask"] == spec["layers"][2]["mask"]
    torch.testing.assert_close(torch.tensor(layers[2]["z"], dtype=D),
                               torch.tensor(bn["a"], dtype=D) * torch.tensor(spec["layers"][2]["mask"], dtype=D) * 2)
    assert "x_hat" in layers[3]["layers"][0] and "weight" not in layers[3]
    for layer in [*layers, *layers[3]["layers"]]:
        for g in layer["grads"].values():
            assert g["numerical"] is not None and g["agree"]
    assert out["spec"]["layers"][3]["layers"][1] == {"units": 3, "activation": "tanh"}


def test_a_drawn_dropout_mask_is_reported_and_reproducible(capsys):
    spec = NetworkSpec.from_dict({"input_size": 3, "batch": 4, "seed": 5,
                                  "layers": [{"type": "dropout", "p": 0.5}, {"units": 1, "activation": "identity"}]})
    a, b = trace(spec), trace(spec)
    mask = a.layers[0].values["mask"]
    assert mask.shape == (4, 3) and set(mask.flatten().tolist()) <= {0.0, 1.0}
    torch.testing.assert_close(b.layers[0].values["mask"], mask)
    torch.testing.assert_close(a.layers[0].z, a.x * mask * 2)


@pytest.mark.parametrize("spec,message", [
    ({"input_size": 2, "batch": 1, "layers": [{"type": "batchnorm"}, {"units": 1}]},
     "layer 1: batchnorm needs a batch of at least 2 rows"),
    ({"input_size": 2, "layers": [{"type": "dropout", "p": 1.0}, {"units": 1}]},
     r"dropout p must be a number in \[0, 1\)"),
    ({"input_size": 2, "layers": [{"type": "dropout", "p": -0.1}, {"units": 1}]}, r"dropout p must be"),
    ({"input_size": 2, "layers": [{"type": "residual", "layers": [{"units": 3}]}, {"units": 1}]},
     "layer 1: the residual block's inner layers end at width 3 but its input has width 2"),
    ({"input_size": 2, "layers": [{"type": "conv"}, {"units": 1}]}, "layer 1: unknown type 'conv'"),
    ({"input_size": 1, "layers": [{"type": "layernorm"}, {"units": 1}]}, "layer 1: layernorm over 1 feature"),
    ({"input_size": 2, "layers": [{"type": "dropout", "mask": [[1, 2]], "x": None}, {"units": 1}]}, "mask"),
])
def test_bad_specs_give_one_clear_line(tmp_path, capsys, spec, message):
    with pytest.raises(SpecError, match=message):
        NetworkSpec.from_dict(spec)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(spec))
    assert main(["inspect", "--spec", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err


# ---------------------------------------------------------------- training

def _steps(cfg: TrainConfig) -> list[float]:
    evs = list(train(cfg))
    assert evs[-1].kind == "finished", evs[-1].data["message"]
    # the per-batch losses (step ≥ 1; step 0 is the untrained loss, evaluated in eval mode)
    return [e.data["loss"] for e in evs if e.kind == "step" and e.data["step"] > 0], evs[-1].data["model"]


def test_manual_backward_follows_autograd_through_every_kind_in_training():
    base = dict(dataset="moons", n_samples=96, noise=0.1, loss="cross_entropy", batch_size=16, epochs=2,
                optimizer="sgd", lr=0.1, momentum=0.9, seed=1, log_every=1, stats_every=3,
                layers="6:tanh,bn,ln:relu,drop0.3,res[6:relu,bn,6:tanh]:relu,2:identity")
    ref, ref_model = _steps(TrainConfig(**base))
    got, got_model = _steps(TrainConfig(**base, backward="manual"))
    assert len(got) == len(ref) == 10
    torch.testing.assert_close(torch.tensor(got), torch.tensor(ref), rtol=1e-5, atol=1e-6)
    state, ref_state = got_model.state_dict(), ref_model.state_dict()
    assert "linears.1.running_var_2" in state and "linears.4.2_weight" in state
    for key in ref_state:
        torch.testing.assert_close(state[key], ref_state[key], rtol=1e-5, atol=1e-5)
    assert not torch.allclose(state["linears.1.running_mean_2"], torch.zeros(6))  # running statistics moved


def test_a_dropout_run_is_reproducible_from_its_seed_whatever_torch_s_global_generator_did():
    # Dropout masks in training came from torch's global generator, so two runs of one config (same seed) drew
    # different masks unless something reseeded it: a stored run could not be reproduced or replayed.
    cfg = TrainConfig(dataset="moons", n_samples=96, noise=0.1, loss="cross_entropy", batch_size=16, epochs=2,
                      optimizer="sgd", lr=0.1, seed=3, log_every=1, layers="8:relu,drop0.5,2:identity")
    runs = []
    for global_seed in (11, 12):
        torch.manual_seed(global_seed)
        runs.append([e.data["loss"] for e in train(cfg) if e.kind == "step"])
    assert len(runs[0]) > 5 and runs[0] == runs[1]
    other = dataclasses.replace(cfg, seed=4)
    assert [e.data["loss"] for e in train(other) if e.kind == "step"] != runs[0]


def test_a_dropout_run_resumed_from_its_position_draws_the_masks_it_would_have_drawn():
    # replay and branches resume from a checkpoint: the mask generator's state must travel with the position
    cfg = TrainConfig(dataset="moons", n_samples=96, noise=0.1, loss="cross_entropy", batch_size=16, epochs=2,
                      optimizer="sgd", lr=0.1, seed=3, log_every=1, layers="8:relu,drop0.5,2:identity")
    whole = list(train(cfg))[-1].data["model"].state_dict()
    half = list(train(dataclasses.replace(cfg, epochs=1)))[-1].data
    state = {**half["position"], "model": half["model"].state_dict(), "optimizer": half["optimizer"].state_dict()}
    resumed = list(train(cfg, resume=state))[-1].data["model"].state_dict()
    for key in whole:
        assert torch.equal(resumed[key], whole[key]), key


def test_a_batchnorm_net_trains_and_validates_in_eval_mode():
    cfg = TrainConfig(dataset="moons", n_samples=400, noise=0.1, loss="cross_entropy", batch_size=32, epochs=15,
                      optimizer="adam", lr=0.01, seed=0, layers="16:tanh,bn,16:tanh,bn,2:identity")
    evs = list(train(cfg, snapshots=True))
    epochs = [e.data for e in evs if e.kind == "epoch"]
    assert epochs[-1]["val_accuracy"] > 0.95
    model = evs[-1].data["model"]
    assert model.training  # evaluation switched to eval() and back
    x = load_data(cfg).x_val
    model.eval()
    with torch.no_grad():  # validation uses the running statistics: one row alone gets the same output
        torch.testing.assert_close(model(x[:1]), model(x)[:1])
    # the Train page's decision boundary rebuilds the net, running statistics included, from the snapshot
    grid = boundary_grid(epochs[-1]["state"], cfg.layer_specs, grid_bounds(x), n=5)
    with torch.no_grad():
        corner = model(torch.tensor([[grid.xs[0], grid.ys[0]]]))
        torch.testing.assert_close(grid.probs[0, 0], torch.softmax(corner, 1)[0])
