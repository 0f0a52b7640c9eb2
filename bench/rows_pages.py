"""Row 6: each page script under pages/ run headless with AppTest at its defaults; the warm rerun is timed.

Pages run inside app.py (st.navigation + the sidebar, as a user gets them, and st.page_link needs it),
switched to with AppTest.switch_page; without an app.py the page script runs on its own."""
from __future__ import annotations

import time
from pathlib import Path

from bench import Context, Result
from bench.timing import Timing

ROOT = Path(__file__).resolve().parent.parent
PAGES_DIR = ROOT / "pages"
APP = ROOT / "app.py"


def page_rows_named() -> dict[str, str]:
    """Row id → name for every page script that exists now."""
    pages = sorted(PAGES_DIR.glob("*.py"))
    return {f"6:{p.stem}": f"page script run (AppTest), {p.stem}, defaults, warm" for p in pages}


def page_rows(ctx: Context) -> list[Result]:
    from streamlit.testing.v1 import AppTest

    out = []
    for row, name in page_rows_named().items():
        page = f"pages/{row.split(':', 1)[1]}.py"
        try:
            if APP.exists():
                at = AppTest.from_file(str(APP), default_timeout=300)
                at.switch_page(page)
            else:
                at = AppTest.from_file(str(ROOT / page), default_timeout=300)
            start = time.perf_counter()
            at.run()  # cold: imports, st.cache_data fills
            cold = time.perf_counter() - start
            samples = []
            for _ in range(1 if ctx.quick else max(3, ctx.repeats)):
                start = time.perf_counter()
                at.run()
                samples.append(time.perf_counter() - start)
            t = Timing(samples)
            errors = [str(e.value)[:120] for e in at.exception]
            note = f"cold first run {cold:.2f} s" + (f"; page raised: {errors[0]}" if errors else "")
            out.append(Result(row, name, t.median, None, "s", "≤ 1 s", t.median <= 1.0 and not errors,
                              f"{t.spread:.0%}", note, {"warm": t.summary(), "cold": cold, "exceptions": errors}))
        except Exception as err:  # a page being written right now must not stop the other rows
            out.append(Result(row, name, note=f"error: {type(err).__name__}: {err}"[:200]))
    return out


def groups():
    return [(tuple(page_rows_named()), page_rows)]
