"""The trainable network of a TrainConfig: layers of the protocol (autograd through torch_forward, or the
kind's hand-written backward) and activations, initialised from the seed by the Inspector's schemes."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from engine.core.layers import Layer, build, build_layers
from engine.core.layers.modules import LayerModule
from engine.core.ops import LOSSES
from engine.core.spec import block_width_problems
from engine.data import Dataset
from engine.train.config import ConfigError, TrainConfig


class MLP(nn.Module):
    """z_l = layer_l(a_{l-1}), a_l = φ_l(z_l), each layer a LayerModule of its kind (linear today).
    forward(x, record=True) also returns every z_l."""

    def __init__(self, sizes: list[int], activations: list[str], manual_backward: bool = False,
                 types: list[str] | None = None, kinds: list[Layer] | None = None):
        super().__init__()
        kinds = kinds or build_layers(sizes, activations, types)  # kinds: layers built from specs (blocks too)
        activations = [kind.activation.name for kind in kinds]
        # named `linears` because stored snapshots' state_dict keys are linears.{i}.weight / .bias
        self.linears = nn.ModuleList(LayerModule(kind, manual_backward) for kind in kinds)
        self.activation_names = list(activations)
        self.acts = [kind.activation.torch for kind in kinds]  # torch twins from the operations table

    def forward(self, x: torch.Tensor, record: bool = False):
        zs = []
        for lin, act in zip(self.linears, self.acts, strict=True):
            z = lin(x)
            if record:
                zs.append(z)
            x = act(z)
        return (x, zs) if record else x


def build_model(cfg: TrainConfig, input_size: int, device: torch.device) -> MLP:
    """The MLP with parameters drawn on the CPU from a generator seeded by cfg.seed (device-independent),
    by the same schemes and in the same order (W_1, b_1, W_2, …) as the Inspector draws a spec's.
    The numbers equal a float32 spec's with the same seed and init; a float64 spec's differ (in precision for
    normal draws, entirely for uniform ones: xavier, torch)."""
    kinds = build(cfg.layer_specs, input_size)
    model = MLP([], [], cfg.backward == "manual", kinds=kinds)
    gen = torch.Generator().manual_seed(cfg.seed)
    with torch.no_grad():
        for module in model.linears:
            for name, value in module.kind.init_params(cfg.init, gen, torch.float32).items():
                module.params()[name].copy_(value)
    model = model.to(device)
    masks = torch.Generator(device=device).manual_seed(cfg.seed + 2)  # dropout's draws: reproducible from the seed
    for module in model.linears:  # (+ 2: seed is the weights', seed + 1 the batch order's)
        module.generator = masks
    model.masks = masks  # its state travels with a checkpoint's position (engine/train/loop.py)
    return model


MAX_TRAIN_PARAMETERS = 20_000_000  # a typo like 4096 units × 12 layers (200M) must not exhaust the server


def check_fit(cfg: TrainConfig, data: Dataset) -> None:
    """The network must fit the dataset: one output unit per class or regression target, and a sane size."""
    blocks = block_width_problems(cfg.layer_specs, data.input_size)
    if blocks:
        raise ConfigError(blocks[0])
    n_params = sum(layer.n_parameters() for layer in build(cfg.layer_specs, data.input_size))
    if n_params > MAX_TRAIN_PARAMETERS:
        raise ConfigError(f"the network has {n_params:,} parameters on {data.name}'s {data.input_size} inputs; "
                          f"the limit is {MAX_TRAIN_PARAMETERS:,}: use fewer or narrower layers")
    out = build(cfg.layer_specs, data.input_size)[-1].units
    fix = f"make the last layer {{}}:{cfg.layer_specs[-1].activation} (e.g. --layers ...,{{}}:identity)"
    if data.task == "regression":
        if cfg.loss != "mse":
            raise ConfigError(f"{data.name} is a regression set: use the mse loss, not {cfg.loss}")
        if out != data.output_size:
            raise ConfigError(f"the last layer has {out} units but {data.name} has {data.output_size} "
                              f"target(s); " + fix.format(data.output_size, data.output_size))
        return
    k = data.n_classes
    if cfg.loss == "bce":
        if not (k == 2 and out == 1):
            raise ConfigError(f"bce needs 2 classes and one sigmoid output unit; {data.name} has {k} classes "
                              f"and the last layer {out} units (use cross_entropy for more classes)")
        return
    if out != k:
        raise ConfigError(f"the last layer has {out} units but {data.name} has {k} classes; "
                          + fix.format(k, k))


def targets(cfg: TrainConfig, data: Dataset, y: torch.Tensor) -> torch.Tensor:
    """What the loss compares against: class indices for cross_entropy, one-hot for mse on classes,
    a (n, 1) float 0/1 column for bce, the values themselves for regression."""
    if data.task == "regression" or cfg.loss == "cross_entropy":
        return y
    if cfg.loss == "bce":
        return y.float().unsqueeze(1)
    return F.one_hot(y, data.n_classes).float()


def loss_fn(name: str):
    return LOSSES[name].torch


def predictions(output: torch.Tensor) -> torch.Tensor:
    """Predicted class per row: the argmax, or p > 0.5 for a single sigmoid unit."""
    return (output[:, 0] > 0.5).long() if output.shape[1] == 1 else output.argmax(dim=1)
