"""Operator settings: what the person serving the app decides, read from the environment — never from a web form.

- BACKPROP_LAB_HOME: the data directory (run store, MNIST cache); default `<project>/.backprop-lab`.
- BACKPROP_LAB_STORE: the run store's SQLite file; default `runs.sqlite` in the data directory.
- BACKPROP_LAB_RAY_ADDRESS: the Ray cluster the Compare page's sweep form may use ("ray" executor). Unset: the
  form starts a local Ray instance. Visitors cannot type an address (a typed one made the server retry a
  connection for 90 s and would unpickle a foreign cluster's results). The CLI keeps --ray-address.
- BACKPROP_LAB_ADMIN=1: every visitor may rename and delete every run (a single-user or teacher's server).
  Unset: a visitor may rename and delete only the runs their own session created.
"""
from __future__ import annotations

import os
from pathlib import Path

RAY_ADDRESS_ENV = "BACKPROP_LAB_RAY_ADDRESS"
ADMIN_ENV = "BACKPROP_LAB_ADMIN"
_TRUE = ("1", "true", "yes", "on")


def ray_address() -> str | None:
    """The operator's Ray address for web-started sweeps, or None for a local Ray instance."""
    return os.environ.get(RAY_ADDRESS_ENV, "").strip() or None


def admin() -> bool:
    """Whether the operator lets every visitor rename and delete every run."""
    return os.environ.get(ADMIN_ENV, "").strip().lower() in _TRUE

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def data_dir(*, create: bool = True) -> Path:
    """The data directory: $BACKPROP_LAB_HOME, else `<project>/.backprop-lab`. create: make it when missing."""
    root = Path(os.environ.get("BACKPROP_LAB_HOME") or PROJECT_ROOT / ".backprop-lab")
    if create:
        root.mkdir(parents=True, exist_ok=True)
    return root


def default_store_path() -> Path:
    """The run store's SQLite file: $BACKPROP_LAB_STORE, else `runs.sqlite` in the data directory. Only the
    path: a listing must create nothing, and RunStore(create=True) makes the folder when it writes."""
    env = os.environ.get("BACKPROP_LAB_STORE")
    return Path(env) if env else data_dir(create=False) / "runs.sqlite"
