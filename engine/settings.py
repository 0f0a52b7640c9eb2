"""Operator settings: what the person serving the app decides, read from the environment — never from a web form.

- BACKPROP_LAB_RAY_ADDRESS: the Ray cluster the Compare page's sweep form may use ("ray" executor). Unset: the
  form starts a local Ray instance. Visitors cannot type an address (a typed one made the server retry a
  connection for 90 s and would unpickle a foreign cluster's results). The CLI keeps --ray-address.
- BACKPROP_LAB_ADMIN=1: every visitor may rename and delete every run (a single-user or teacher's server).
  Unset: a visitor may rename and delete only the runs their own session created.
"""
from __future__ import annotations

import os

RAY_ADDRESS_ENV = "BACKPROP_LAB_RAY_ADDRESS"
ADMIN_ENV = "BACKPROP_LAB_ADMIN"
_TRUE = ("1", "true", "yes", "on")


def ray_address() -> str | None:
    """The operator's Ray address for web-started sweeps, or None for a local Ray instance."""
    return os.environ.get(RAY_ADDRESS_ENV, "").strip() or None


def admin() -> bool:
    """Whether the operator lets every visitor rename and delete every run."""
    return os.environ.get(ADMIN_ENV, "").strip().lower() in _TRUE
