"""safe_io opens only regular files, refuses them above a size before reading, and inflates gzip with a cap."""
from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

from engine.safe_io import UnsafeFileError, gunzip_bytes, read_bytes, read_text


def test_a_regular_file_under_the_cap_is_read_whole(tmp_path: Path):
    (tmp_path / "a.txt").write_text("héllo")
    assert read_text(tmp_path / "a.txt", 6, "spec file") == "héllo"  # 6 bytes in UTF-8


def test_a_file_over_the_cap_is_refused_by_its_size(tmp_path: Path):
    (tmp_path / "a.txt").write_bytes(b"x" * 2048)
    with pytest.raises(UnsafeFileError, match=r"spec file .*a\.txt is 2,048 bytes; the limit is 2,047 bytes"):
        read_bytes(tmp_path / "a.txt", 2047, "spec file")


@pytest.mark.parametrize("kind", ["fifo", "device", "directory", "missing"])
def test_only_regular_files_are_opened(tmp_path: Path, kind: str):
    path = {"fifo": tmp_path / "p", "device": Path("/dev/zero"), "directory": tmp_path,
            "missing": tmp_path / "nope"}[kind]
    if kind == "fifo":
        os.mkfifo(path)  # opening it for reading would block until a writer came: it must not
    message = {"fifo": "not a regular file", "device": "not a regular file", "directory": "is a directory",
               "missing": "not found"}[kind]
    with pytest.raises(UnsafeFileError, match=message):
        read_bytes(path, 1 << 20)


def test_gzip_members_are_inflated_like_gzip_does(tmp_path: Path):
    (tmp_path / "a.gz").write_bytes(gzip.compress(b"hello ") + gzip.compress(b"world") + b"\0" * 8)
    assert gunzip_bytes(tmp_path / "a.gz", 11) == b"hello world"


def test_gzip_output_over_the_cap_is_refused_while_inflating(tmp_path: Path):
    (tmp_path / "a.gz").write_bytes(gzip.compress(bytes(3 << 20)))  # 3 MB of zeros: ~3 KB on disk
    with pytest.raises(UnsafeFileError, match=r"inflates to more than 1\.0 MB"):
        gunzip_bytes(tmp_path / "a.gz", 1 << 20)


def test_a_cut_gzip_is_reported(tmp_path: Path):
    (tmp_path / "a.gz").write_bytes(gzip.compress(os.urandom(5000))[:-100])
    with pytest.raises(UnsafeFileError, match="cut short"):
        gunzip_bytes(tmp_path / "a.gz", 1 << 20)
