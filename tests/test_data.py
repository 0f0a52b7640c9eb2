"""Datasets: synthetic sets are seeded, shaped and shaped right; CSVs load or say what to fix."""
from __future__ import annotations

import gzip
import io
import math
import struct

import numpy as np
import pytest
import torch

from engine.data import DataError, Dataset
from engine.data.load import DATASETS, load_dataset

SYNTHETIC_2D = ("moons", "circles", "spiral", "xor", "blobs")


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("BACKPROP_LAB_HOME", str(tmp_path / "home"))


def rows(t: torch.Tensor) -> set[tuple]:
    return {tuple(r) for r in t.tolist()}


# ---------------------------------------------------------------- synthetic sets

@pytest.mark.parametrize("name", SYNTHETIC_2D)
def test_2d_sets_are_float32_points_with_int64_labels(name):
    ds = load_dataset(name, n_samples=301)
    assert ds.task == "classification" and ds.name == name
    assert ds.x_train.shape == (301, 2) and ds.x_train.dtype == torch.float32
    assert ds.y_train.shape == (301,) and ds.y_train.dtype == torch.int64
    assert ds.x_val.shape == (0, 2) and ds.x_test is None and ds.y_test is None
    assert ds.input_size == 2 and ds.output_size == ds.n_classes == (3 if name in ("spiral", "blobs") else 2)
    assert torch.isfinite(ds.x_train).all()


@pytest.mark.parametrize("name", SYNTHETIC_2D + ("regression",))
def test_same_seed_same_tensors_different_seed_different(name):
    a, b = load_dataset(name, seed=3, val_fraction=0.2), load_dataset(name, seed=3, val_fraction=0.2)
    for field in ("x_train", "y_train", "x_val", "y_val"):
        assert torch.equal(getattr(a, field), getattr(b, field))
    assert not torch.equal(a.x_train, load_dataset(name, seed=4, val_fraction=0.2).x_train)


def test_global_rng_state_is_neither_used_nor_changed():
    state = torch.get_rng_state()
    torch.manual_seed(123)
    a = load_dataset("spiral")
    torch.manual_seed(456)
    assert torch.equal(a.x_train, load_dataset("spiral").x_train)
    torch.set_rng_state(state)


@pytest.mark.parametrize("name, k", [("moons", None), ("circles", None), ("xor", None),
                                     ("spiral", 5), ("blobs", 4), ("spiral", None)])
def test_classes_are_balanced_to_within_one(name, k):
    ds = load_dataset(name, n_samples=1003, n_classes=k)
    counts = torch.bincount(ds.y_train, minlength=ds.n_classes)
    assert len(counts) == ds.n_classes and counts.max() - counts.min() <= 1


def test_noiseless_shapes_are_what_their_docstrings_say():
    x, y = (lambda d: (d.x_train, d.y_train))(load_dataset("circles", n_samples=500, noise=0))
    r = x.norm(dim=1)
    assert (r[y == 0] <= 0.5 + 1e-6).all() and (r[y == 1] >= 0.7 - 1e-6).all()
    x, y = (lambda d: (d.x_train, d.y_train))(load_dataset("xor", n_samples=500, noise=0))
    assert ((x[:, 0] * x[:, 1] < 0).long() == y).all() and (x.abs() >= 0.1 - 1e-6).all()
    x, _ = (lambda d: (d.x_train, d.y_train))(load_dataset("spiral", n_samples=500, noise=0))
    assert (x.norm(dim=1) <= 1 + 1e-6).all()


def test_blobs_points_sit_nearest_their_own_centre():
    ds = load_dataset("blobs", n_samples=900, n_classes=3, noise=0)
    angles = 2 * math.pi * torch.arange(3) / 3
    centres = torch.stack([torch.cos(angles), torch.sin(angles)], 1)
    nearest = torch.cdist(ds.x_train, centres).argmin(1)
    assert (nearest == ds.y_train).float().mean() > 0.95


def test_noise_moves_points_by_about_its_std():
    clean, noisy = load_dataset("moons", noise=0), load_dataset("moons", noise=0.2)
    # the same seed draws the same clean points; the jitter is the last draw
    assert torch.equal(clean.y_train, noisy.y_train)
    assert (noisy.x_train - clean.x_train).std().item() == pytest.approx(0.2, rel=0.1)


def test_regression_y_is_xw_plus_b_recovered_by_least_squares():
    ds = load_dataset("regression", n_samples=5000, noise=0.01, seed=7)
    assert ds.task == "regression" and ds.n_classes is None
    assert ds.x_train.shape == (5000, 2) and ds.y_train.shape == (5000, 1) and ds.output_size == 1
    design = torch.cat([ds.x_train, torch.ones(5000, 1)], 1).double()
    coef = torch.linalg.lstsq(design, ds.y_train.double()).solution.squeeze(1)
    assert coef.tolist() == pytest.approx([2.0, -3.4, 4.2], abs=1e-3)
    residual = ds.y_train.double() - design @ coef[:, None]
    assert residual.std().item() == pytest.approx(0.01, rel=0.1)
    assert ds.meta["true_w"] == pytest.approx([2.0, -3.4]) and ds.meta["true_b"] == pytest.approx([4.2])


def test_regression_with_several_outputs():
    w = [[1.0, 0.0], [0.5, -1.0], [0.0, 2.0]]
    ds = load_dataset("regression", n_samples=200, noise=0, true_w=w, true_b=[1.0, -1.0])
    assert ds.x_train.shape == (200, 3) and ds.y_train.shape == (200, 2) and ds.output_size == 2
    expected = ds.x_train @ torch.tensor(w) + torch.tensor([1.0, -1.0])
    torch.testing.assert_close(ds.y_train, expected)


@pytest.mark.parametrize("name", ("regression", "moons", "spiral"))
@pytest.mark.parametrize("n, frac, n_val", [(1000, 0.2, 200), (101, 0.5, 50), (1, 0.5, 0), (10, 0.0, 0)])
def test_val_split_sizes_and_disjoint_cover(name, n, frac, n_val):
    full = load_dataset(name, n_samples=n, seed=2)
    ds = load_dataset(name, n_samples=n, seed=2, val_fraction=frac)
    assert len(ds.x_val) == len(ds.y_val) == n_val and len(ds.x_train) == len(ds.y_train) == n - n_val
    train, val = rows(ds.x_train), rows(ds.x_val)
    assert not train & val
    assert train | val == rows(full.x_train)


@pytest.mark.parametrize("kwargs, message", [
    ({"n_samples": 0}, "n_samples must be 1–1000000, got 0"),
    ({"n_samples": 1_000_001}, "n_samples must be 1–1000000, got 1000001"),
    ({"n_samples": 2.5}, "n_samples must be 1–1000000, got 2.5"),
    ({"noise": -0.1}, "noise must be a finite number ≥ 0, got -0.1"),
    ({"noise": float("nan")}, "noise must be a finite number"),
    ({"val_fraction": 0.6}, "val_fraction must be 0–0.5, got 0.6"),
    ({"seed": -1}, "seed must be an integer"),
    ({"n_classes": 3}, "moons has a fixed number of classes"),
])
def test_bad_arguments_say_what_and_the_allowed_range(kwargs, message):
    with pytest.raises(DataError, match=message):
        load_dataset("moons", **kwargs)


def test_unknown_dataset_lists_the_choices():
    with pytest.raises(DataError, match="unknown dataset 'mnsit'; choose one of " + ", ".join(DATASETS)):
        load_dataset("mnsit")


@pytest.mark.parametrize("kwargs, message", [
    ({"n_classes": 1}, "n_classes must be 2–20 for spiral, got 1"),
    ({"n_classes": 21}, "n_classes must be 2–20 for spiral"),
])
def test_spiral_class_count_is_bounded(kwargs, message):
    with pytest.raises(DataError, match=message):
        load_dataset("spiral", **kwargs)


def test_regression_rejects_bad_weights():
    with pytest.raises(DataError, match="true_b must be one finite number or 1"):
        load_dataset("regression", true_b=[1.0, 2.0])
    with pytest.raises(DataError, match="n_classes is for classification sets"):
        load_dataset("regression", n_classes=2)


# ---------------------------------------------------------------- CSV

def write_csv(tmp_path, text: str):
    path = tmp_path / "d.csv"
    path.write_text(text)
    return path


IRIS_LIKE = "a,b,kind\n1,10,cat\n2,20,dog\n3,30,cat\n4,40,emu\n5,50,dog\n6,60,cat\n"


def test_csv_text_target_is_classification_with_sorted_names(tmp_path):
    ds = load_dataset("csv", csv_path=write_csv(tmp_path, IRIS_LIKE), target="kind", standardize=False)
    assert ds.task == "classification" and ds.n_classes == 3 and ds.output_size == 3
    assert ds.meta["target_names"] == ["cat", "dog", "emu"] and ds.meta["feature_names"] == ["a", "b"]
    # rows are shuffled by the split: check each row's label against its feature a
    label_of_a = {1: 0, 2: 1, 3: 0, 4: 2, 5: 1, 6: 0}
    assert [label_of_a[int(a)] for a in ds.x_train[:, 0]] == ds.y_train.tolist()
    assert ds.y_train.dtype == torch.int64 and ds.x_train.dtype == torch.float32


def test_csv_few_integers_are_classes_many_floats_are_regression(tmp_path):
    text = "x,label,price\n" + "".join(f"{i},{i % 3 + 1}.0,{i * 1.5 + 0.25}\n" for i in range(30))
    cls = load_dataset("csv", csv_path=write_csv(tmp_path, text), target="label")
    assert cls.task == "classification" and cls.meta["target_names"] == ["1", "2", "3"]
    reg = load_dataset("csv", csv_path=write_csv(tmp_path, text), target="price")
    assert reg.task == "regression" and reg.y_train.shape == (30, 1) and reg.y_train.dtype == torch.float32
    many = "x,count\n" + "".join(f"{i},{i}\n" for i in range(30))  # 30 distinct integers > 20
    assert load_dataset("csv", csv_path=write_csv(tmp_path, many), target="count").task == "regression"


def test_csv_several_targets_is_multi_output_regression_from_bytes():
    text = b"f1,f2,t1,t2\n" + b"".join(f"{i},{i * i},{2 * i},{-i}\n".encode() for i in range(10))
    ds = load_dataset("csv", csv_path=io.BytesIO(text), target=" t1 , t2", standardize=False)
    assert ds.task == "regression" and ds.output_size == 2 and ds.input_size == 2
    torch.testing.assert_close(ds.y_train, torch.stack([2 * ds.x_train[:, 0], -ds.x_train[:, 0]], 1))


def test_csv_standardises_with_train_statistics(tmp_path):
    rng = np.random.default_rng(0)
    raw = np.column_stack([rng.normal(5, 3, 200), rng.normal(-2, 0.1, 200), np.full(200, 7.0),
                           rng.integers(0, 2, 200)])
    path = tmp_path / "s.csv"
    np.savetxt(path, raw, delimiter=",", header="u,v,const,y", comments="")
    ds = load_dataset("csv", csv_path=path, target="y", val_fraction=0.25, seed=1)
    torch.testing.assert_close(ds.x_train[:, :2].mean(0), torch.zeros(2), atol=1e-5, rtol=0)
    torch.testing.assert_close(ds.x_train[:, :2].std(0, unbiased=False), torch.ones(2), atol=1e-5, rtol=0)
    assert (ds.x_train[:, 2] == 0).all() and ds.meta["std"][2] == 1.0  # constant column: std 0 → 1
    # validation rows are mapped with the train mean/std, so they undo to raw rows exactly
    mean, std = torch.tensor(ds.meta["mean"]), torch.tensor(ds.meta["std"])
    val_raw = rows((ds.x_val * std + mean).double().round(decimals=3))
    assert val_raw <= rows(torch.tensor(raw[:, :3]).round(decimals=3))
    train_mean = torch.tensor(raw[:, 0]).mean().item()
    assert ds.meta["mean"][0] != pytest.approx(train_mean, abs=1e-9)  # not the full-data mean


def test_csv_missing_target_lists_the_columns(tmp_path):
    with pytest.raises(DataError, match="target column 'species' not in the CSV; available columns: a, b, kind"):
        load_dataset("csv", csv_path=write_csv(tmp_path, IRIS_LIKE), target="species")
    with pytest.raises(DataError, match="choose the target column"):
        load_dataset("csv", csv_path=write_csv(tmp_path, IRIS_LIKE))


def test_csv_nan_names_the_column_and_the_count(tmp_path):
    text = "a,b,y\n1,,0\n2,3,1\n3,,0\n"
    with pytest.raises(DataError, match=r"column 'b' has 2 missing value\(s\) \(of 3 rows\)"):
        load_dataset("csv", csv_path=write_csv(tmp_path, text), target="y")


def test_csv_text_feature_names_the_column(tmp_path):
    with pytest.raises(DataError, match="feature column 'kind' is not numeric .*one-hot encode or drop it"):
        load_dataset("csv", csv_path=write_csv(tmp_path, IRIS_LIKE), target="a")


@pytest.mark.parametrize("text, message", [
    ("", "could not read the CSV"),
    ("a,y\n", "0 rows"),
    ("a,y\n1,inf\n2,3\n", "column 'y' has 1 infinite"),
])
def test_csv_unreadable_or_empty(tmp_path, text, message):
    with pytest.raises(DataError, match=message):
        load_dataset("csv", csv_path=write_csv(tmp_path, text), target="y")


def test_csv_missing_file_or_path(tmp_path):
    with pytest.raises(DataError, match="CSV file not found"):
        load_dataset("csv", csv_path=tmp_path / "nope.csv", target="y")
    with pytest.raises(DataError, match="needs csv_path"):
        load_dataset("csv", target="y")


# ---------------------------------------------------------------- MNIST through load_dataset

def _write_idx(path, arr: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    path.write_bytes(gzip.compress(header + arr.tobytes()))


def test_mnist_is_flat_float_pixels_with_a_val_split_and_the_test_set(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, (20, 28, 28), dtype=np.uint8), rng.integers(0, 10, 20, dtype=np.uint8)
    x[0, 0, 0], x[1, 0, 0] = 0, 255
    for stem, arr in [("train-images-idx3-ubyte", x), ("train-labels-idx1-ubyte", y),
                      ("t10k-images-idx3-ubyte", x[:5]), ("t10k-labels-idx1-ubyte", y[:5])]:
        _write_idx(tmp_path / f"{stem}.gz", arr)
    ds = load_dataset("mnist", mnist_dir=tmp_path, val_fraction=0.25)
    assert isinstance(ds, Dataset) and ds.task == "classification" and ds.n_classes == 10
    assert ds.x_train.shape == (15, 784) and ds.x_val.shape == (5, 784) and ds.x_test.shape == (5, 784)
    assert ds.x_train.dtype == torch.float32 and ds.y_train.dtype == torch.int64
    assert float(torch.cat([ds.x_train, ds.x_val]).min()) == 0.0
    assert float(torch.cat([ds.x_train, ds.x_val]).max()) == 1.0
    torch.testing.assert_close(ds.x_test, torch.from_numpy(x[:5].reshape(5, -1)).float() / 255)
    assert rows(torch.cat([ds.x_train, ds.x_val])) == rows(torch.from_numpy(x.reshape(20, -1)).float() / 255)
    assert str(tmp_path) in ds.meta["source"] and ds.input_size == 784 and ds.output_size == 10
