"""Worked examples our users learn from, as NetworkSpecs (numbers the tests derive by hand)."""
from __future__ import annotations

from engine.inspector.spec import LayerSpec, NetworkSpec


def _line() -> NetworkSpec:
    # ŷ = W x + b = 1·2 + 1 = 3; L = (3 − 10)² = 49; ∂L/∂W = 2(ŷ − y)x = −28; ∂L/∂b = 2(ŷ − y) = −14
    return NetworkSpec(1, [LayerSpec(1, "identity", weight=[[1.0]], bias=[1.0])], loss="mse",
                       x=[[2.0]], y=[[10.0]], name="line")


def _two_layer() -> NetworkSpec:
    # 3 → 2 (relu) → 1, a batch of 4 drawn from seed 0
    return NetworkSpec(3, [LayerSpec(2, "relu"), LayerSpec(1, "identity")], loss="mse", seed=0, batch=4,
                       name="two-layer")


def _linear_chain() -> NetworkSpec:
    # 2 → 3 → 5 → 1, all linear; L = Σ output so the upstream gradient is 1 and
    # ∂L/∂x = 1ᵀ W₃ W₂ W₁, ∂L/∂W_l = δ_lᵀ a_{l-1} ("receiver" vs "intermediate" gradients)
    layers = [LayerSpec(3, "identity"), LayerSpec(5, "identity"), LayerSpec(1, "identity")]
    return NetworkSpec(2, layers, loss="sum", init="xavier", seed=0, x=[[1.0, -2.0]], y=[[0.0]],
                       name="linear-chain")


def _single_step() -> NetworkSpec:
    # nn.Linear(4, 2) on one sample, MSE against [1, 0]
    return NetworkSpec(4, [LayerSpec(2, "identity")], loss="mse", init="xavier", seed=0,
                       x=[[0.8, 0.4, 0.4, 0.2]], y=[[1.0, 0.0]], name="single-step")


def _batchnorm() -> NetworkSpec:
    # the makemore backprop exercise in small: Linear → BatchNorm → tanh → Linear, cross-entropy over 3 classes,
    # a batch of 8 (BatchNorm normalises each of the 6 hidden features over those 8 rows, training mode)
    layers = [LayerSpec(6, "identity"), LayerSpec(type="batchnorm", activation="tanh"), LayerSpec(3, "identity")]
    return NetworkSpec(4, layers, loss="cross_entropy", init="torch", seed=0, batch=8, name="batchnorm")


def _residual() -> NetworkSpec:
    # 3 → 4, then two residual blocks a = relu(x + f(x)) around 4 → 4 → 4, then 4 → 1
    def block(act: str) -> LayerSpec:
        return LayerSpec(type="residual", activation="relu", layers=[LayerSpec(4, act), LayerSpec(4, "identity")])

    layers = [LayerSpec(4, "relu"), block("relu"), block("tanh"), LayerSpec(1, "identity")]
    return NetworkSpec(3, layers, loss="mse", init="xavier", seed=0, batch=4, name="residual")


def _dropout() -> NetworkSpec:
    # 3 → 6 relu → inverted dropout p = 0.5 (the mask drawn from the seed and shown) → 1
    layers = [LayerSpec(6, "relu"), LayerSpec(type="dropout", p=0.5), LayerSpec(1, "identity")]
    return NetworkSpec(3, layers, loss="mse", init="kaiming", seed=0, batch=4, name="dropout")


PRESETS = {"line": _line, "two-layer": _two_layer, "linear-chain": _linear_chain, "single-step": _single_step,
           "batchnorm": _batchnorm, "residual": _residual, "dropout": _dropout}


def preset(name: str) -> NetworkSpec:
    """A fresh copy of a preset spec; KeyError lists the names."""
    if name not in PRESETS:
        raise KeyError(f"unknown preset {name!r}; use one of {', '.join(PRESETS)}")
    return PRESETS[name]()
