"""Who a visitor is, for run ownership: the runs a browser session starts are that session's to rename or delete.

The token is random per Streamlit session (kept in st.session_state, so a reload starts a new session and
the old runs become read-only to it). When the operator turns on Streamlit's sign-in ([auth] in
.streamlit/secrets.toml), a signed-in visitor is their account instead, across reloads and browsers.
"""
from __future__ import annotations

import secrets

import streamlit as st

from engine import settings

OWNER_KEY = "run_owner"


def session_owner() -> str:
    """This visitor's owner token: "user:<email>" when signed in, else "session:<random>"."""
    ss = st.session_state
    if OWNER_KEY not in ss:
        user = _signed_in_user()
        ss[OWNER_KEY] = f"user:{user}" if user else f"session:{secrets.token_urlsafe(16)}"
    return ss[OWNER_KEY]


def acting_owner() -> str | None:
    """Whose runs this visitor may rename and delete: None (everyone's) when the operator set
    BACKPROP_LAB_ADMIN=1, else their own."""
    return None if settings.admin() else session_owner()


def _signed_in_user() -> str | None:
    """The signed-in account, or None. st.user is a mapping; without sign-in it has no "is_logged_in"."""
    user = st.user
    if user.get("is_logged_in"):
        return str(user.get("email") or user.get("sub") or "") or None
    return None
