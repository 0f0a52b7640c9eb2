"""TrainConfig: everything one training run needs, validated with messages a user can act on."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from engine.core.layers import INITS
from engine.core.ops import ACTIVATIONS, TRAIN_LOSSES, output_layer_problems
from engine.core.optim import TRAIN_OPTIMIZERS
from engine.core.spec import MAX_ALL_LAYERS, MAX_LAYERS, MAX_UNITS, LayerSpec, SpecError, parse_layers
from engine.data import DataError
from engine.data.load import DATASETS, check_dataset_args
from engine.train.device import DEVICE_CHOICES

OPTIMIZER_NAMES = TRAIN_OPTIMIZERS  # the name the pages import
LR_SCHEDULES = ("constant", "cosine")
BACKWARDS = ("fused", "autograd", "manual")
MAX_EPOCHS = 10_000
MAX_BATCH_SIZE = 1_000_000


class ConfigError(ValueError):
    """An invalid training configuration; the message says what to change."""


@dataclass
class TrainConfig:
    # data
    dataset: str = "moons"  # one of engine.data.load.DATASETS
    n_samples: int = 1000  # synthetic sets only
    noise: float = 0.1  # synthetic sets only: std of the Gaussian jitter
    n_classes: int | None = None  # spiral / blobs
    true_w: tuple = (2.0, -3.4)  # regression: y = X w + b + noise
    true_b: float = 4.2
    csv_path: str | None = None
    target: str | None = None  # csv target column(s), comma-separated
    standardize: bool = True  # csv: (x − mean)/std with the train split's statistics
    mnist_dir: str | None = None
    val_fraction: float = 0.2
    # model
    layers: str = "16:relu,16:relu,2:identity"  # UNITS:ACTIVATION,…; the last is the output layer
    loss: str = "cross_entropy"
    init: str = "kaiming"
    # fused = the hand-derived backward of the layer protocol as one step without autograd (engine/train/fused.py;
    # kinds it does not cover train with autograd, and the run says so); autograd = through torch_forward, like
    # nn.Linear; manual = autograd calling the hand-written backward per layer (ManualLinear)
    backward: str = "fused"
    # optimizer
    optimizer: str = "sgd"
    impl: str = "torch"  # torch = torch.optim; manual = engine.core.optim
    lr: float = 0.1
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0
    betas: tuple = (0.9, 0.999)
    eps: float = 1e-8
    # schedule
    batch_size: int | str = 32  # rows per step, or "full" for batch gradient descent
    epochs: int = 10
    # constant η, or cosine: η_t = η·(1 + cos(π t/T))/2 after step t of all T = epochs · batches per epoch
    # steps (torch.optim.lr_scheduler.CosineAnnealingLR, stepped every batch): large steps early, small at the end
    lr_schedule: str = "constant"
    seed: int = 0  # init, split and batch order all derive from it (not from the optimizer)
    device: str = "auto"
    # steps between per-layer health records; None: every step while that costs ≤ 5 % of the run's time, else
    # every k-th, and at most ~5 000 records a run (engine/train/health.py StatsCadence)
    stats_every: int | None = None
    log_every: int = 25  # steps between step-loss records (each is one host sync)
    max_steps: int | None = None  # stop after this many steps: a dry run for tests and CI
    name: str | None = field(default=None, compare=False)

    @property
    def layer_specs(self) -> list[LayerSpec]:
        return parse_layers(self.layers)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["true_w"], d["betas"] = list(self.true_w), list(self.betas)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        unknown = sorted(set(d) - set(cls.__dataclass_fields__))
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(unknown)}")
        cfg = cls(**d)
        cfg.true_w, cfg.betas = tuple(cfg.true_w), tuple(cfg.betas)
        return cfg.check()

    def optimizer_hyper(self) -> dict:
        """Constructor arguments for the chosen optimizer, torch.optim names."""
        if self.optimizer == "sgd":
            return {"lr": self.lr, "momentum": self.momentum, "nesterov": self.nesterov,
                    "weight_decay": self.weight_decay}
        if self.optimizer == "adagrad":
            return {"lr": self.lr, "weight_decay": self.weight_decay, "eps": self.eps}
        if self.optimizer == "rmsprop":
            return {"lr": self.lr, "momentum": self.momentum, "weight_decay": self.weight_decay, "eps": self.eps}
        return {"lr": self.lr, "betas": tuple(self.betas), "weight_decay": self.weight_decay, "eps": self.eps}

    def check(self) -> TrainConfig:
        problems = _problems(self)
        if problems:
            raise ConfigError("; ".join(problems))
        return self


def _problems(c: TrainConfig) -> list[str]:
    found = []
    if c.dataset not in DATASETS:
        found.append(f"unknown dataset {c.dataset!r}; use one of {', '.join(DATASETS)}")
    else:
        try:
            check_dataset_args(c.dataset, n_samples=c.n_samples, noise=c.noise, n_classes=c.n_classes,
                               csv_path=c.csv_path, val_fraction=c.val_fraction)
        except DataError as err:
            found.append(str(err))
    found += _layer_problems(c)
    if c.loss not in TRAIN_LOSSES:
        found.append(f"unknown loss {c.loss!r}; use one of {', '.join(TRAIN_LOSSES)}")
    if c.init not in INITS:
        found.append(f"unknown init {c.init!r}; use one of {', '.join(INITS)}")
    if c.optimizer not in OPTIMIZER_NAMES:
        found.append(f"unknown optimizer {c.optimizer!r}; use one of {', '.join(OPTIMIZER_NAMES)}")
    if c.impl not in ("torch", "manual"):
        found.append(f"impl must be torch or manual, got {c.impl!r}")
    if c.backward not in BACKWARDS:
        found.append(f"backward must be {', '.join(BACKWARDS[:-1])} or {BACKWARDS[-1]}, got {c.backward!r}")
    if c.lr_schedule not in LR_SCHEDULES:
        found.append(f"unknown lr schedule {c.lr_schedule!r}; use one of {', '.join(LR_SCHEDULES)}")
    if c.device not in DEVICE_CHOICES:
        found.append(f"unknown device {c.device!r}; use one of {', '.join(DEVICE_CHOICES)}")
    if not (isinstance(c.lr, (int, float)) and math.isfinite(c.lr) and 0 < c.lr <= 100):
        found.append(f"learning rate must be > 0 and ≤ 100, got {c.lr!r}")
    for name in ("momentum", "weight_decay"):
        value = getattr(c, name)
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
            found.append(f"{name} must be a number ≥ 0, got {value!r}")
    if c.max_steps is not None and not (isinstance(c.max_steps, int) and c.max_steps >= 1):
        found.append(f"max_steps must be a whole number ≥ 1 (or unset for no limit), got {c.max_steps!r}")
    if c.nesterov and (c.optimizer != "sgd" or c.momentum <= 0):
        found.append("nesterov needs the sgd optimizer with momentum > 0")
    if c.batch_size != "full" and not (isinstance(c.batch_size, int) and 1 <= c.batch_size <= MAX_BATCH_SIZE):
        found.append(f"batch size must be 1–{MAX_BATCH_SIZE:,} or 'full', got {c.batch_size!r}")
    if not (isinstance(c.epochs, int) and 1 <= c.epochs <= MAX_EPOCHS):
        found.append(f"epochs must be 1–{MAX_EPOCHS}, got {c.epochs!r}")
    if not (isinstance(c.seed, int) and c.seed >= 0):
        found.append(f"seed must be a whole number ≥ 0, got {c.seed!r}")
    if not ((c.stats_every is None or isinstance(c.stats_every, int) and c.stats_every >= 1)
            and isinstance(c.log_every, int) and c.log_every >= 1):
        found.append("stats_every and log_every must be whole numbers ≥ 1")
    return found


def _layer_problems(c: TrainConfig) -> list[str]:
    try:
        layers = c.layer_specs
    except SpecError as err:
        return [str(err)]
    found = []
    every = [inner for layer in layers for inner in layer.flat()]
    linear = [layer for layer in every if layer.type == "linear"]
    if not 1 <= len(linear) <= MAX_LAYERS:
        found.append(f"the network needs 1–{MAX_LAYERS} layers (linear ones), got {len(linear)}")
    if len(every) > MAX_ALL_LAYERS:
        found.append(f"the network has {len(every)} layers in all; the limit is {MAX_ALL_LAYERS}")
    for i, layer in enumerate(every, start=1):
        if layer.type == "linear" and not 1 <= layer.units <= MAX_UNITS:
            found.append(f"layer {i} has {layer.units} units; use 1–{MAX_UNITS}")
        if layer.type == "dropout" and not 0 <= layer.p < 1:
            found.append(f"layer {i}: dropout p must be in [0, 1), got {layer.p:g}")
        if layer.activation not in ACTIVATIONS:
            found.append(f"layer {i}: unknown activation {layer.activation!r}; use one of {', '.join(ACTIVATIONS)}")
        elif layer.activation == "softmax":
            found.append(f"layer {i}: softmax is not offered for training; cross_entropy applies it to the logits")
    if layers and layers[-1].type != "linear":
        found.append("the last layer must be a linear one (UNITS:ACTIVATION): it gives the outputs")
    if layers and c.loss in TRAIN_LOSSES:
        found += output_layer_problems(c.loss, layers[-1].activation)
    if layers and c.dataset == "mnist" and c.loss != "bce" and layers[-1].units != 10:
        found.append(f"MNIST has 10 classes: make the last layer 10 units, not {layers[-1].units} "
                     "(e.g. --layers 128:relu,10:identity)")
    return found
