"""Training presets: one table behind the Train page's preset buttons and `python -m engine train --preset`;
flags the user gives override the preset, flags left out do not."""
from __future__ import annotations

import pytest

from engine.cli import build_parser, main
from engine.cli.train import config_from_args
from engine.train.config import ConfigError, TrainConfig
from engine.train.presets import TRAIN_PRESETS, preset_config


def cli_config(*argv: str) -> TrainConfig:
    return config_from_args(build_parser().parse_args(["train", *argv]))


@pytest.mark.parametrize("name", list(TRAIN_PRESETS))
def test_cli_preset_is_exactly_the_table_entry(name):
    expected = TrainConfig(**TRAIN_PRESETS[name])  # seed, device, … at TrainConfig's own defaults
    assert cli_config("--preset", name) == expected == preset_config(name)


def test_mnist_preset_is_the_784_128_64_10_network_for_5_epochs():
    cfg = cli_config("--preset", "mnist")
    assert (cfg.dataset, cfg.layers, cfg.loss, cfg.batch_size, cfg.epochs) == (
        "mnist", "128:relu,64:relu,10:identity", "cross_entropy", 64, 5)


def test_given_flags_override_the_preset_and_only_those():
    cfg = cli_config("--preset", "mnist", "--seed", "3", "--epochs", "1", "--lr", "0.2", "--no-store")
    preset = TRAIN_PRESETS["mnist"]
    assert (cfg.seed, cfg.epochs, cfg.lr) == (3, 1, 0.2)
    # not given: the preset's values, not the plain command's defaults (momentum 0, batch 32, val 0.2)
    assert (cfg.momentum, cfg.batch_size, cfg.val_fraction, cfg.init) == (
        preset["momentum"], preset["batch_size"], preset["val_fraction"], preset["init"])
    assert cli_config("--preset", "regression", "--momentum", "0.5").momentum == 0.5
    assert cli_config("--preset", "mnist", "--init", "torch").init == "torch"
    assert cli_config("--preset", "mnist", "--lr-schedule", "cosine").lr_schedule == "cosine"
    assert cli_config("--preset", "mnist", "--lr-schedule", "constant").lr_schedule == "constant"
    assert cli_config("--preset", "mnist", "--nesterov").nesterov is True
    assert cli_config("--preset", "mnist", "--no-nesterov").nesterov is False


def test_without_a_preset_the_plain_defaults_stay():
    cfg = cli_config("--dataset", "moons", "--layers", "8:relu,2:identity", "--lr", "0.1")
    assert (cfg.momentum, cfg.batch_size, cfg.epochs, cfg.val_fraction, cfg.init, cfg.loss) == (
        0.0, 32, 10, 0.2, "kaiming", "cross_entropy")


@pytest.mark.parametrize("argv, message", [
    (["--layers", "8:relu,2:identity", "--lr", "0.1"], "--dataset"),
    (["--dataset", "moons", "--lr", "0.1"], "--layers"),
    (["--dataset", "moons", "--layers", "8:relu,2:identity"], "--lr"),
])
def test_without_a_preset_dataset_layers_and_lr_are_required(capsys, argv, message):
    assert main(["train", *argv, "--no-store"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "--preset" in err


def test_an_unknown_preset_exits_2_with_one_line(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--preset", "cifar"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.count("\n") == 1 and "invalid choice: 'cifar'" in err
    with pytest.raises(ConfigError, match="unknown preset 'cifar'"):
        preset_config("cifar")


def test_train_help_lists_every_preset(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for name in TRAIN_PRESETS:
        assert f"{name}:" in out
