"""Open a file a user named, safely: regular files only, sizes capped BEFORE reading, gzip inflated with a cap.

A FIFO blocks `open()` until a writer appears and a device like /dev/zero never ends, so every user path
is opened non-blocking, checked with fstat, and refused unless it is a regular file. Sizes are checked
against the file's length first; reads still stop at the cap in case the file grows meanwhile.
"""
from __future__ import annotations

import io
import os
import stat
import zlib
from pathlib import Path

_CHUNK = 1 << 20  # 1 MiB: the most a bounded read holds beyond its cap


class UnsafeFileError(ValueError):
    """A user file that is missing, not a regular file, or too big; the message names it and the limit."""


def mb(n_bytes: int) -> str:
    return f"{n_bytes / (1 << 20):.1f} MB" if n_bytes >= 1 << 20 else f"{n_bytes:,} bytes"


def open_regular(path: str | Path, what: str = "file") -> io.BufferedReader:
    """Open `path` for binary reading if it is a regular file (never blocks on a FIFO)."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise UnsafeFileError(f"{what} not found: {path}; check the path") from None
    except IsADirectoryError:
        raise UnsafeFileError(f"{what} {path} is a directory; give a file") from None
    except OSError as err:
        raise UnsafeFileError(f"cannot open {what} {path}: {err.strerror}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file (a pipe, device or socket)"
        raise UnsafeFileError(f"{what} {path} is {kind}; give a regular file")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def check_size(f: io.BufferedReader, path: str | Path, max_bytes: int, what: str) -> int:
    """The file's size, refused above max_bytes before anything is read."""
    size = os.fstat(f.fileno()).st_size
    if size > max_bytes:
        raise UnsafeFileError(f"{what} {path} is {mb(size)}; the limit is {mb(max_bytes)}")
    return size


def read_bytes(path: str | Path, max_bytes: int, what: str = "file") -> bytes:
    """The whole content of a regular file of at most max_bytes."""
    with open_regular(path, what) as f:
        check_size(f, path, max_bytes, what)
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:  # it grew after the size check
        raise UnsafeFileError(f"{what} {path} is larger than {mb(max_bytes)}; the limit is {mb(max_bytes)}")
    return data


def read_text(path: str | Path, max_bytes: int, what: str = "file") -> str:
    try:
        return read_bytes(path, max_bytes, what).decode("utf-8")
    except UnicodeDecodeError as err:
        raise UnsafeFileError(f"{what} {path} is not UTF-8 text ({err.reason} at byte {err.start})") from None


def gunzip_bytes(path: str | Path, max_out: int, what: str = "file", max_in: int | None = None) -> bytes:
    """Inflate a .gz file chunk by chunk, refusing it once the output passes max_out bytes.

    A 6 MB gzip bomb can inflate to 6 GiB; zlib's max_length bounds every step, so memory stays
    ≤ max_out + one chunk whatever the ratio. Concatenated members are inflated too, like gzip does."""
    out = bytearray()
    with open_regular(path, what) as f:
        # deflate never grows data by more than ~0.03 % plus headers, so this input cap only refuses junk
        check_size(f, path, max_out + max_out // 100 + 4096 if max_in is None else max_in, what)
        d, fed, pending = _gunzipper(), False, b""
        while True:
            data = pending or d.unconsumed_tail or f.read(_CHUNK)
            if not data:
                break
            out += d.decompress(data, max_out + 1 - len(out))  # never more than one byte past the cap
            fed, pending = True, b""
            if len(out) > max_out:
                raise UnsafeFileError(f"{what} {path} inflates to more than {mb(max_out)}; the limit is "
                                      f"{mb(max_out)}")
            if d.eof:  # another gzip member may follow; trailing zero padding is allowed, as gzip does
                pending = d.unused_data if d.unused_data.strip(b"\0") else b""
                d, fed = _gunzipper(), False
    if fed and not d.eof:
        raise UnsafeFileError(f"{what} {path} is cut short (the gzip stream ends early)")
    return bytes(out)


def _gunzipper():
    return zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # 16+: a gzip header and trailer around deflate
