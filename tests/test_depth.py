"""The deep-network comparison (engine.train.depth, the Activations page's figure): each linear layer's
gradient norm equals the one from the same network written in plain torch (nn.Linear, nn.BatchNorm1d, x + f(x))
and trained by torch.optim.SGD on the same full batch."""
import pytest
import torch
from torch import nn

from engine.train.config import TrainConfig
from engine.train.depth import deep_layers, depth_profile
from engine.train.loop import load_data
from engine.train.model import build_model
from ui.depth_view import depth_figure

DEPTH, STEP = 3, 6


def test_layers_strings_of_the_three_variants():
    assert deep_layers("plain", 3, 8, "sigmoid") == "8:sigmoid,8:sigmoid,8:sigmoid,2:identity"
    assert deep_layers("batchnorm", 2, 8) == "8:identity,bn:tanh,8:identity,bn:tanh,2:identity"
    assert deep_layers("residual", 3, 8) == "8:tanh,res[8:tanh]:identity,res[8:tanh]:identity,2:identity"


class _Skip(nn.Module):
    def __init__(self, linear: nn.Linear, act: nn.Module):
        super().__init__()
        self.linear, self.act = linear, act

    def forward(self, x):
        return x + self.act(self.linear(x))


def _linear(w: torch.Tensor, b: torch.Tensor) -> nn.Linear:
    lin = nn.Linear(w.shape[1], w.shape[0])
    with torch.no_grad():
        lin.weight.copy_(w)
        lin.bias.copy_(b)
    return lin


def _torch_net(variant: str, activation: str) -> tuple[nn.Sequential, list[nn.Linear]]:
    """The variant in torch modules, starting from the initial weights the engine draws (inputs, not answers)."""
    cfg = TrainConfig(dataset="moons", layers=deep_layers(variant, DEPTH, 16, activation), init="torch")
    model = build_model(cfg.check(), 2, torch.device("cpu"))
    pairs = [(p, m.params()[n.replace("weight", "bias")]) for m in model.linears for n, p in m.params().items()
             if p.dim() == 2]  # (W_l, b_l) of every linear layer in run order
    lins = [_linear(w.detach(), b.detach()) for w, b in pairs]
    act = {"tanh": nn.Tanh, "sigmoid": nn.Sigmoid}[activation]
    if variant == "plain":
        mods = [m for lin in lins[:-1] for m in (lin, act())]
    elif variant == "batchnorm":
        mods = [m for lin in lins[:-1] for m in (lin, nn.BatchNorm1d(16), act())]
    else:
        mods = [lins[0], act()] + [_Skip(lin, act()) for lin in lins[1:-1]]
    return nn.Sequential(*mods, lins[-1]), lins


def _torch_norms(variant: str, activation: str) -> list[float]:
    net, lins = _torch_net(variant, activation)
    data = load_data(TrainConfig(dataset="moons"))
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    for k in range(STEP):
        opt.zero_grad()
        nn.functional.cross_entropy(net(data.x_train), data.y_train).backward()
        if k < STEP - 1:
            opt.step()
    return [lin.weight.grad.norm().item() for lin in lins]


@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
def test_figure_data_equal_a_direct_torch_computation(activation):
    profiles = [depth_profile(v, depth=DEPTH, activation=activation, init="torch", step=STEP)
                for v in ("plain", "batchnorm", "residual")]
    fig = depth_figure(profiles, "t")
    assert fig.layout.yaxis.type == "log" and len(fig.data) == 3
    for trace, variant in zip(fig.data, ("plain", "batchnorm", "residual"), strict=True):
        assert list(trace.x) == [1, 2, 3, 4]
        assert list(trace.y) == pytest.approx(_torch_norms(variant, activation), rel=1e-4)


def test_too_much_work_is_refused():
    with pytest.raises(ValueError, match="depth must be 1–16 and step 1–500"):
        depth_profile("plain", depth=40)


def test_activations_page_draws_the_comparison_on_request():
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(Path(__file__).parents[1] / "pages" / "activations.py"), default_timeout=60).run()
    assert not at.exception and not any("‖∂L/∂W₁‖" in c.value for c in at.caption)  # nothing trained on a visit
    at.number_input(key="depth_n").set_value(DEPTH)
    at.number_input(key="depth_step").set_value(STEP)
    at.selectbox(key="depth_init").set_value("torch")
    at = at.button(key="depth_go").click().run()
    assert not at.exception, [e.message for e in at.exception]
    caption = next(c.value for c in at.caption if "‖∂L/∂W₁‖" in c.value)
    assert f"plain {_torch_norms('plain', 'tanh')[0]:.3g}" in caption
    assert f"with BatchNorm {_torch_norms('batchnorm', 'tanh')[0]:.3g}" in caption
