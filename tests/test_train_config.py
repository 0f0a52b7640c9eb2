"""TrainConfig: every bad setting is a ConfigError whose message names the problem and the fix."""
from __future__ import annotations

import pytest

from engine.data.load import load_dataset
from engine.train.config import ConfigError, TrainConfig
from engine.train.loop import train
from engine.train.model import check_fit, targets

GOOD = dict(dataset="moons", layers="8:relu,2:identity", loss="cross_entropy", optimizer="sgd", lr=0.1)


def test_the_defaults_and_a_typical_config_are_valid():
    assert TrainConfig().check() == TrainConfig()
    TrainConfig(**GOOD, momentum=0.9, nesterov=True, batch_size="full", max_steps=5).check()


@pytest.mark.parametrize("change,message", [
    ({"dataset": "mnsit"}, r"unknown dataset 'mnsit'; use one of regression, moons"),
    ({"layers": "8:relu,2"}, r"layer"),
    ({"layers": "eight:relu,2:identity"}, r"layer"),
    ({"layers": "0:relu,2:identity"}, r"layer 1 has 0 units; use 1–4096"),
    ({"layers": "8:swish,2:identity"}, r"swish"),
    ({"layers": "8:relu,2:softmax"}, r"softmax is not offered for training"),
    ({"layers": ",".join(["4:relu"] * 13) + ",2:identity"}, r"1–12 layers"),
    ({"lr": 0}, r"learning rate must be > 0"),
    ({"lr": -0.1}, r"learning rate must be > 0"),
    ({"lr": float("nan")}, r"learning rate must be > 0"),
    ({"lr": 1000}, r"≤ 100"),
    ({"nesterov": True}, r"nesterov needs the sgd optimizer with momentum > 0"),
    ({"nesterov": True, "momentum": 0.9, "optimizer": "adam"}, r"nesterov needs the sgd optimizer"),
    ({"momentum": -0.5}, r"momentum must be a number ≥ 0"),
    ({"weight_decay": -1e-4}, r"weight_decay must be a number ≥ 0"),
    ({"optimizer": "lbfgs"}, r"unknown optimizer 'lbfgs'; use one of sgd, adagrad, rmsprop, adam, adamw"),
    ({"loss": "hinge"}, r"unknown loss 'hinge'"),
    ({"init": "orthogonal"}, r"unknown init 'orthogonal'"),
    ({"impl": "numpy"}, r"impl must be torch or manual"),
    ({"backward": "numerical"}, r"backward must be fused, autograd or manual"),
    ({"device": "tpu"}, r"unknown device 'tpu'"),
    ({"lr_schedule": "step"}, r"unknown lr schedule 'step'; use one of constant, cosine"),
    ({"layers": "8:relu,2:sigmoid"}, r"cross_entropy takes logits.*: make the last layer 'identity'"),
    ({"loss": "bce", "layers": "8:relu,1:identity"}, r"bce works on probabilities: make the last layer 'sigmoid'"),
    ({"batch_size": 0}, r"batch size must be 1–1,000,000 or 'full'"),
    ({"batch_size": "half"}, r"batch size must be"),
    ({"epochs": 0}, r"epochs must be 1–10000"),
    ({"seed": -1}, r"seed must be a whole number ≥ 0"),
    ({"stats_every": 0}, r"stats_every and log_every must be whole numbers ≥ 1"),
    ({"max_steps": 0}, r"max_steps must be a whole number ≥ 1"),
])
def test_a_bad_setting_is_a_config_error_saying_what_to_change(change, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**{**GOOD, **change}).check()


def test_several_problems_are_reported_together():
    with pytest.raises(ConfigError) as err:
        TrainConfig(**{**GOOD, "lr": 0, "epochs": 0}).check()
    assert "learning rate" in str(err.value) and "epochs" in str(err.value)


def test_dict_round_trip_and_unknown_keys():
    cfg = TrainConfig(**GOOD, betas=(0.8, 0.9), true_w=(1.0, 2.0, 3.0), batch_size="full")
    d = cfg.to_dict()
    assert d["betas"] == [0.8, 0.9] and d["true_w"] == [1.0, 2.0, 3.0]
    assert TrainConfig.from_dict(d) == cfg
    with pytest.raises(ConfigError, match="unknown setting.*learning_rate"):
        TrainConfig.from_dict({**d, "learning_rate": 0.1})
    with pytest.raises(ConfigError, match="learning rate"):
        TrainConfig.from_dict({**d, "lr": -1})


def test_optimizer_hyperparameters_use_torch_names():
    assert TrainConfig(**GOOD, momentum=0.9, nesterov=True).optimizer_hyper() == {
        "lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.0}
    adam = TrainConfig(**{**GOOD, "optimizer": "adamw", "betas": (0.8, 0.9), "weight_decay": 0.01}).optimizer_hyper()
    assert adam == {"lr": 0.1, "betas": (0.8, 0.9), "weight_decay": 0.01, "eps": 1e-8}


# ---------------------------------------------------------------- the network must fit the data

@pytest.fixture(scope="module")
def moons():
    return load_dataset("moons", n_samples=40, seed=0)


@pytest.fixture(scope="module")
def regression():
    return load_dataset("regression", n_samples=40, seed=0)


def test_output_units_must_equal_the_number_of_classes(moons):
    with pytest.raises(ConfigError, match=r"last layer has 3 units but moons has 2 classes.*2:identity"):
        check_fit(TrainConfig(**{**GOOD, "layers": "8:relu,3:identity"}), moons)
    check_fit(TrainConfig(**GOOD), moons)


def test_an_absurd_network_is_refused_before_anything_is_allocated(moons):
    # moons has 2 inputs: (2·4096 + 4096) + 10·(4096² + 4096) + (4096·2 + 2) = 167,833,602 parameters
    huge = ",".join(["4096:relu"] * 11 + ["2:identity"])
    with pytest.raises(ConfigError, match=r"167,833,602 parameters.*limit is 20,000,000"):
        check_fit(TrainConfig(**{**GOOD, "layers": huge}), moons)


def test_regression_needs_mse_and_one_output_per_target(regression):
    with pytest.raises(ConfigError, match="regression set: use the mse loss, not cross_entropy"):
        check_fit(TrainConfig(**{**GOOD, "dataset": "regression", "layers": "1:identity"}), regression)
    with pytest.raises(ConfigError, match="last layer has 2 units but regression has 1 target"):
        check_fit(TrainConfig(**{**GOOD, "dataset": "regression", "loss": "mse"}), regression)


def test_bce_needs_two_classes_and_one_sigmoid_unit(moons):
    spiral = load_dataset("spiral", n_samples=30, seed=0)
    bce = {**GOOD, "loss": "bce", "layers": "8:relu,1:sigmoid"}
    check_fit(TrainConfig(**bce), moons)
    with pytest.raises(ConfigError, match="bce needs 2 classes.*spiral has 3 classes"):
        check_fit(TrainConfig(**{**bce, "dataset": "spiral"}), spiral)


def test_targets_match_the_loss(moons, regression):
    y = moons.y_train[:5]
    assert targets(TrainConfig(**GOOD), moons, y) is y
    bce = targets(TrainConfig(**{**GOOD, "loss": "bce", "layers": "8:relu,1:sigmoid"}), moons, y)
    assert bce.shape == (5, 1) and bce.dtype.is_floating_point and bce.flatten().tolist() == y.float().tolist()
    onehot = targets(TrainConfig(**{**GOOD, "loss": "mse"}), moons, y)
    assert onehot.shape == (5, 2) and onehot.argmax(1).tolist() == y.tolist() and onehot.sum().item() == 5


def test_the_trainer_refuses_a_bad_config_before_doing_anything():
    with pytest.raises(ConfigError, match="learning rate"):
        next(train(TrainConfig(**{**GOOD, "lr": 0})))
    with pytest.raises(ConfigError, match="3 units but moons has 2 classes"):
        next(train(TrainConfig(**{**GOOD, "layers": "8:relu,3:identity", "n_samples": 40})))
