"""Where Backprop Lab keeps its files: one data directory, overridable by environment."""
from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """The data directory: $BACKPROP_LAB_HOME, else `<project>/.backprop-lab`. Created on demand."""
    root = Path(os.environ.get("BACKPROP_LAB_HOME") or PROJECT_ROOT / ".backprop-lab")
    root.mkdir(parents=True, exist_ok=True)
    return root


def default_store_path() -> Path:
    """The run store's SQLite file: $BACKPROP_LAB_STORE, else `runs.sqlite` in the data directory."""
    env = os.environ.get("BACKPROP_LAB_STORE")
    return Path(env) if env else data_dir() / "runs.sqlite"
