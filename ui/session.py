"""Who is asking: this browser session's id, and a check the engine's job queue calls to see that the session
is still connected (engine/ never imports streamlit, so the page hands it this callable)."""
from __future__ import annotations

from collections.abc import Callable

from streamlit.runtime import Runtime
from streamlit.runtime.scriptrunner import get_script_run_ctx


def session_id() -> str | None:
    """The current session's id; None outside a script run."""
    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else None


def alive_check(sid: str | None) -> Callable[[], bool] | None:
    """A callable: False once the session's browser tab is gone (closed, or disconnected and not back).
    Asks Streamlit's runtime (Runtime.is_active_session: the session manager's connected sessions); where
    there is no runtime (AppTest, bare mode) it says True, so nothing is stopped for want of one."""
    if sid is None:
        return None

    def alive() -> bool:
        if not Runtime.exists():
            return True
        return Runtime.instance().is_active_session(sid)

    return alive
