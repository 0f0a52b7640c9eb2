"""A server-wide cache of Inspector traces bounded by the bytes of their tensors, not only by their count.

st.cache_data(max_entries=64) kept up to 64 traces of any size (and unpickled a copy on every rerun); a
trace at the edge of engine.inspector.budget holds ~100 MB, so the cache keeps the newest few, at most MAX_BYTES in
all. Traces are read-only once built, so every session gets the same object.
"""
from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from collections.abc import Callable

import torch

MAX_ENTRIES = 16
MAX_BYTES = 200_000_000


def tensor_bytes(obj, _seen: set | None = None) -> int:
    """Bytes of the distinct tensor storages reachable from obj (dataclasses, lists, tuples, dicts)."""
    seen = set() if _seen is None else _seen
    if isinstance(obj, torch.Tensor):
        storage = obj.untyped_storage()
        if storage.data_ptr() in seen:
            return 0
        seen.add(storage.data_ptr())
        return storage.nbytes()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return sum(tensor_bytes(getattr(obj, f.name), seen) for f in dataclasses.fields(obj))
    if isinstance(obj, list | tuple):
        return sum(tensor_bytes(v, seen) for v in obj)
    if isinstance(obj, dict):
        return sum(tensor_bytes(v, seen) for v in obj.values())
    return 0


class BoundedCache:
    """Least-recently-used key → value, evicting the oldest until ≤ max_entries and ≤ max_bytes.
    A value bigger than max_bytes alone is returned but not kept."""

    def __init__(self, max_entries: int = MAX_ENTRIES, max_bytes: int = MAX_BYTES,
                 size: Callable[[object], int] = tensor_bytes):
        self.max_entries, self.max_bytes, self.size = max_entries, max_bytes, size
        self._items: OrderedDict[str, tuple[object, int]] = OrderedDict()
        self._lock = threading.Lock()  # sessions run their scripts on different threads

    @property
    def nbytes(self) -> int:
        with self._lock:
            return sum(n for _, n in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: str, compute: Callable[[], object]):
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key][0]
        value = compute()  # outside the lock: another session's lookup need not wait for this one
        n = self.size(value)
        with self._lock:
            if n <= self.max_bytes:
                self._items[key] = (value, n)
                self._items.move_to_end(key)
            while self._items and (len(self._items) > self.max_entries
                                   or sum(m for _, m in self._items.values()) > self.max_bytes):
                self._items.popitem(last=False)
        return value
