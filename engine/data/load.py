"""Datasets as tensors: synthetic regression, 2-D classification sets, a user's CSV, MNIST.

Everything random comes from one `torch.Generator` seeded by `seed` (never global RNG state),
so the same arguments give bit-identical tensors. MNIST sources live in `engine/data/mnist.py`.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd
import torch

from engine.data import DataError, Dataset
from engine.data.mnist import mnist_tensors
from engine.safe_io import UnsafeFileError, check_size, open_regular

DATASETS = ("regression", "moons", "circles", "spiral", "xor", "blobs", "csv", "mnist")
_TWO_CLASS = ("moons", "circles", "xor")  # fixed two-class shapes
MAX_SAMPLES = 1_000_000
MAX_CLASSES = 20  # spiral / blobs arms; also the "few distinct integers" bound for a CSV target
MAX_CSV_CLASSES = 100  # a text target with more labels than this is almost surely not a class
MAX_VALUES = 20_000_000  # rows × (features + targets): 80 MB as float32; 1000 × 1e6 asked for 4 GB
MAX_CSV_BYTES = 100 << 20  # checked before reading; pandas peaks near 10× the file size


# ---------------------------------------------------------------- validation

def _check_common(name: str, val_fraction: float, seed: int) -> None:
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    if not (isinstance(val_fraction, int | float) and 0.0 <= val_fraction <= 0.5):
        raise DataError(f"val_fraction must be 0–0.5, got {val_fraction!r}")
    if not (isinstance(seed, int) and not isinstance(seed, bool) and 0 <= seed < 2**63):
        raise DataError(f"seed must be an integer 0–{2**63 - 1}, got {seed!r}")


def _check_synthetic(name: str, n_samples: int, noise: float, n_classes: int | None) -> None:
    if not (isinstance(n_samples, int) and not isinstance(n_samples, bool) and 1 <= n_samples <= MAX_SAMPLES):
        raise DataError(f"n_samples must be 1–{MAX_SAMPLES}, got {n_samples!r}")
    if not (isinstance(noise, int | float) and math.isfinite(noise) and noise >= 0):
        raise DataError(f"noise must be a finite number ≥ 0, got {noise!r}")
    if n_classes is None:
        return
    if name == "regression":
        raise DataError(f"n_classes is for classification sets; leave it unset for regression, got {n_classes!r}")
    if name in ("spiral", "blobs"):
        if not (isinstance(n_classes, int) and 2 <= n_classes <= MAX_CLASSES):
            raise DataError(f"n_classes must be 2–{MAX_CLASSES} for {name}, got {n_classes!r}")
    elif not (name in _TWO_CLASS and n_classes == 2):
        raise DataError(f"{name} has a fixed number of classes; leave n_classes unset, got {n_classes!r}")


def check_dataset_args(name: str, *, n_samples: int = 1000, noise: float = 0.1, n_classes: int | None = None,
                       csv_path=None, val_fraction: float = 0.0) -> None:
    """The checks load_dataset makes before it builds anything (the seed aside), without building:
    a sweep runs them once up front instead of failing every point."""
    _check_common(name, val_fraction, 0)
    if name == "csv" and csv_path is None:
        raise DataError("dataset 'csv' needs csv_path: a file path or an uploaded file")
    if name not in ("csv", "mnist"):
        _check_synthetic(name, n_samples, noise, n_classes)


# ---------------------------------------------------------------- synthetic sets

def make_regression(n: int, true_w, true_b, noise: float, gen: torch.Generator):
    """X ~ N(0, 1) of shape (n, d); y = X w + b + noise·ε, shape (n, k). w: (d,) or (d, k)."""
    try:
        w = torch.as_tensor(true_w, dtype=torch.float32)
        b = torch.as_tensor(true_b, dtype=torch.float32).reshape(-1)
    except (TypeError, ValueError, RuntimeError) as e:
        raise DataError(f"true_w / true_b must be numbers or lists of numbers ({e})") from e
    w = w[:, None] if w.ndim == 1 else w
    if w.ndim != 2 or not 1 <= w.shape[0] <= 1000 or not 1 <= w.shape[1] <= 100:
        raise DataError(f"true_w must have shape (d,) or (d, k) with d 1–1000, k 1–100; got {tuple(w.shape)}")
    if b.numel() not in (1, w.shape[1]) or not (w.isfinite().all() and b.isfinite().all()):
        raise DataError(f"true_b must be one finite number or {w.shape[1]} of them, got {true_b!r}")
    d, k = w.shape
    if n * (d + k) > MAX_VALUES:  # refuse before allocating X (n, d)
        raise DataError(f"the dataset would be {n} rows × ({d} features + {k} target{'s' * (k > 1)}) = "
                        f"{n * (d + k):,} values; the limit is {MAX_VALUES:,}: the largest n_samples here is "
                        f"{MAX_VALUES // (d + k)}")
    x = torch.randn(n, w.shape[0], generator=gen)
    y = x @ w + b + noise * torch.randn(n, w.shape[1], generator=gen)
    meta = {"true_w": w.squeeze(1).tolist() if w.shape[1] == 1 else w.tolist(),
            "true_b": b.expand(w.shape[1]).tolist()}
    return x, y, meta


def _balanced_labels(n: int, k: int, gen: torch.Generator) -> torch.Tensor:
    """Labels 0..k-1 with counts differing by at most one, in random order. Shape (n,) int64."""
    return (torch.arange(n) % k)[torch.randperm(n, generator=gen)]


def _moons(y: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Two interleaving half circles (as sklearn's make_moons): class 0 the upper arc."""
    t = torch.rand(len(y), generator=gen) * math.pi
    upper = torch.stack([torch.cos(t), torch.sin(t)], 1)
    lower = torch.stack([1 - torch.cos(t), 0.5 - torch.sin(t)], 1)
    return torch.where(y[:, None] == 0, upper, lower) - torch.tensor([0.5, 0.25])  # centred


def _circles(y: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Class 0 a disc of radius 0.5, class 1 a ring at radius 0.7–1 (TF Playground 'circle')."""
    t = torch.rand(len(y), generator=gen) * 2 * math.pi
    u = torch.rand(len(y), generator=gen)
    r = torch.where(y == 0, 0.5 * u, 0.7 + 0.3 * u)
    return torch.stack([r * torch.cos(t), r * torch.sin(t)], 1)


def _spiral(y: torch.Tensor, k: int, gen: torch.Generator) -> torch.Tensor:
    """k arms, each 1.75 turns from the centre out to radius 1, arm j rotated by 2πj/k."""
    r = torch.rand(len(y), generator=gen)
    t = 1.75 * 2 * math.pi * r + 2 * math.pi * y / k
    return torch.stack([r * torch.sin(t), r * torch.cos(t)], 1)


def _xor(y: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Uniform in the four quadrants of [-1, 1]², kept 0.1 off the axes; class 1 where x·y < 0."""
    mag = 0.1 + 0.9 * torch.rand(len(y), 2, generator=gen)
    sx = torch.where(torch.rand(len(y), generator=gen) < 0.5, -1.0, 1.0)
    sy = torch.where(y == 0, sx, -sx)  # same signs → x·y > 0 → class 0
    return mag * torch.stack([sx, sy], 1)


def _blobs(y: torch.Tensor, k: int, gen: torch.Generator) -> torch.Tensor:
    """k Gaussian clusters (std 0.3) with centres evenly on a circle of radius 1."""
    angle = 2 * math.pi * y / k
    centres = torch.stack([torch.cos(angle), torch.sin(angle)], 1)
    return centres + 0.3 * torch.randn(len(y), 2, generator=gen)


def make_classification_2d(name: str, n: int, noise: float, n_classes: int | None, gen: torch.Generator):
    """x (n, 2) float32, y (n,) int64 balanced; noise = std of Gaussian jitter added to every point."""
    k = n_classes or (3 if name in ("spiral", "blobs") else 2)
    y = _balanced_labels(n, k, gen)
    if name == "spiral":
        x = _spiral(y, k, gen)
    elif name == "blobs":
        x = _blobs(y, k, gen)
    else:
        x = {"moons": _moons, "circles": _circles, "xor": _xor}[name](y, gen)
    return x + noise * torch.randn(n, 2, generator=gen), y, k


# ---------------------------------------------------------------- CSV

def _read_csv(csv_path: str | Path | IO) -> pd.DataFrame:
    """A user's CSV, bounded: a path must be a regular file ≤ MAX_CSV_BYTES; rows are capped while reading
    (never more than MAX_SAMPLES, nor MAX_VALUES / columns), so a huge file is refused, not loaded."""
    if csv_path is None:
        raise DataError("dataset 'csv' needs csv_path: a file path or an uploaded file")
    if isinstance(csv_path, str | Path):
        try:
            with open_regular(csv_path, "CSV file") as f:
                check_size(f, csv_path, MAX_CSV_BYTES, "CSV file")
                return _parse_csv(f)
        except UnsafeFileError as e:
            raise DataError(str(e)) from None
    return _parse_csv(csv_path)


def _parse_csv(source) -> pd.DataFrame:
    try:
        n_columns = len(pd.read_csv(source, nrows=0).columns)
        source.seek(0)
        max_rows = min(MAX_SAMPLES, MAX_VALUES // max(n_columns, 1))
        df = pd.read_csv(source, nrows=max_rows + 1)  # one more row tells us the file is over the limit
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as e:
        problem = " ".join(str(e).split())  # pandas messages end in a newline
        raise DataError(f"could not read the CSV ({problem}); upload a comma-separated file with a header row") from e
    df.columns = [str(c).strip() for c in df.columns]
    if len(df) == 0 or df.shape[1] < 2:
        raise DataError(f"the CSV has {len(df)} rows and {df.shape[1]} columns; need ≥ 1 row and ≥ 2 columns")
    if len(df) > max_rows:
        raise DataError(f"the CSV has more than {max_rows} rows; the limit is {max_rows} for {n_columns} columns, "
                        "so sample it first")
    return df


def _split_columns(df: pd.DataFrame, target) -> tuple[list[str], list[str]]:
    """(feature columns, target columns); target is a name, 'a,b', or a list of names."""
    cols = list(df.columns)
    names = [t.strip() for t in target.split(",")] if isinstance(target, str) else list(target or [])
    names = [t for t in names if t]
    if not names:
        raise DataError(f"choose the target column(s) of the CSV; columns are: {', '.join(cols)}")
    missing = [t for t in names if t not in cols]
    if missing:
        raise DataError(f"target column {', '.join(map(repr, missing))} not in the CSV; "
                        f"available columns: {', '.join(cols)}")
    features = [c for c in cols if c not in names]
    if not features:
        raise DataError("every column is a target; leave at least one feature column")
    return features, names


def _check_csv_values(df: pd.DataFrame, features: list[str], targets: list[str]) -> None:
    """Missing values anywhere used, and non-numeric features, are errors naming the column."""
    for col in features + targets:
        n_nan = int(df[col].isna().sum())
        if n_nan:
            raise DataError(f"column {col!r} has {n_nan} missing value(s) (of {len(df)} rows); "
                            "fill them or drop those rows")
    bad = [c for c in features if not pd.api.types.is_numeric_dtype(df[c])]
    if bad:  # no silent one-hot: the input size must match the columns the user sees
        raise DataError(f"feature column {', '.join(map(repr, bad))} is not numeric "
                        f"(e.g. {df[bad[0]].iloc[0]!r}); one-hot encode or drop it, or make it the target")
    for col in features + [t for t in targets if pd.api.types.is_numeric_dtype(df[t])]:
        n_inf = int(np.isinf(df[col].to_numpy(dtype="float64")).sum())
        if n_inf:
            raise DataError(f"column {col!r} has {n_inf} infinite value(s); replace or drop those rows")


def _is_class_target(s: pd.Series) -> bool:
    """Text / bool / category → classes; numbers → classes only if ≤ MAX_CLASSES distinct integers."""
    if not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
        return True
    values = s.astype("float64")
    return bool((values == values.round()).all()) and values.nunique() <= MAX_CLASSES


def _encode_classes(s: pd.Series) -> tuple[torch.Tensor, list[str]]:
    """Labels → class indices 0..k-1 in sorted label order; returns (y (n,) int64, names)."""
    uniques = sorted(s.unique(), key=lambda v: (str(type(v)), v))
    if len(uniques) > MAX_CSV_CLASSES:
        raise DataError(f"target {s.name!r} has {len(uniques)} distinct labels (limit {MAX_CSV_CLASSES}); "
                        "is it a class column?")
    index = {v: i for i, v in enumerate(uniques)}
    names = [str(int(v)) if isinstance(v, float) and v.is_integer() else str(v) for v in uniques]
    return torch.tensor(s.map(index).to_numpy(), dtype=torch.int64), names


def load_csv(csv_path, target, *, standardize: bool, val_fraction: float, gen: torch.Generator) -> Dataset:
    """A CSV as a Dataset: one text/few-integer target → classification, else regression (n, k)."""
    df = _read_csv(csv_path)
    features, targets = _split_columns(df, target)
    _check_csv_values(df, features, targets)
    x = torch.tensor(df[features].to_numpy(dtype="float64"), dtype=torch.float32)
    meta: dict = {"feature_names": features, "target_names": targets}
    if len(targets) == 1 and _is_class_target(df[targets[0]]):
        task, (y, meta["target_names"]) = "classification", _encode_classes(df[targets[0]])
        meta["target_column"], n_classes = targets[0], len(meta["target_names"])
    else:
        bad = [t for t in targets if not pd.api.types.is_numeric_dtype(df[t])]
        if bad:
            raise DataError(f"target {', '.join(map(repr, bad))} is text; use a single text target for "
                            "classification, or numeric targets for regression")
        task, n_classes = "regression", None
        y = torch.tensor(df[targets].to_numpy(dtype="float64"), dtype=torch.float32)
    x_tr, y_tr, x_va, y_va = _split(x, y, val_fraction, gen)
    mean, std = x_tr.mean(0), x_tr.std(0, unbiased=False)
    std = torch.where(std > 0, std, torch.ones_like(std))  # a constant column stays as is
    if not standardize:
        mean, std = torch.zeros_like(mean), torch.ones_like(std)  # identity: x_raw = x·std + mean always
    meta.update(mean=mean.tolist(), std=std.tolist(), standardized=standardize)
    return Dataset("csv", task, (x_tr - mean) / std, y_tr, (x_va - mean) / std, y_va,
                   n_classes=n_classes, meta=meta)


# ---------------------------------------------------------------- split + entry point

def _split(x: torch.Tensor, y: torch.Tensor, val_fraction: float, gen: torch.Generator):
    """Seeded permutation; the last ⌊n·val_fraction⌋ rows of it are validation. Train keeps ≥ half."""
    n_val = int(len(x) * val_fraction)
    perm = torch.randperm(len(x), generator=gen)
    tr, va = perm[: len(x) - n_val], perm[len(x) - n_val:]
    return x[tr], y[tr], x[va], y[va]


def _load_mnist(mnist_dir, val_fraction: float, gen: torch.Generator) -> Dataset:

    x_train, y_train, x_test, y_test, source = mnist_tensors(mnist_dir)
    # Split while still uint8 (4× less to gather), then scale to [0, 1]: x (n, 784) float32.
    x_tr, y_tr, x_va, y_va = _split(x_train.reshape(len(x_train), -1), y_train.long(), val_fraction, gen)
    x_tr, x_va = x_tr.float() / 255, x_va.float() / 255
    x_te = x_test.reshape(len(x_test), -1).float() / 255
    return Dataset("mnist", "classification", x_tr, y_tr, x_va, y_va, x_te, y_test.long(), 10,
                   {"source": source, "image_shape": [28, 28]})


def load_dataset(name: str, *, n_samples: int = 1000, noise: float = 0.1, n_classes: int | None = None,
                 true_w=(2.0, -3.4), true_b=4.2, csv_path=None, target=None, standardize: bool = True,
                 mnist_dir=None, val_fraction: float = 0.0, seed: int = 0) -> Dataset:
    """Build dataset `name` (one of DATASETS). n_samples / noise / n_classes / true_w / true_b apply
    to the synthetic sets; csv_path / target / standardize to "csv"; mnist_dir to "mnist"."""
    _check_common(name, val_fraction, seed)
    gen = torch.Generator().manual_seed(seed)
    if name == "csv":
        return load_csv(csv_path, target, standardize=standardize, val_fraction=val_fraction, gen=gen)
    if name == "mnist":
        return _load_mnist(mnist_dir, val_fraction, gen)
    _check_synthetic(name, n_samples, noise, n_classes)
    if name == "regression":
        x, y, meta = make_regression(n_samples, true_w, true_b, noise, gen)
        task, k = "regression", None
    else:
        x, y, k = make_classification_2d(name, n_samples, noise, n_classes, gen)
        task, meta = "classification", {}
    meta["noise"] = noise
    x_tr, y_tr, x_va, y_va = _split(x, y, val_fraction, gen)
    return Dataset(name, task, x_tr, y_tr, x_va, y_va, n_classes=k, meta=meta)
