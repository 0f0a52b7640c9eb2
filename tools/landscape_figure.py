"""Draw `python -m engine landscape --json` output as the Compare page draws it, to a PNG (or an HTML file).

    python -m engine landscape --runs ID1,ID2,ID3 --grid 41 --json > landscape.json
    python tools/landscape_figure.py landscape.json docs/img/landscape-moons.png [--store PATH]
        [--figure contour|surface|slices|error]

Names and colours come from the run store, as on the Compare page (a run's colour is fixed by its place in
the store). A .png is a screenshot of the figure in the system Chromium (Playwright); .html keeps it interactive.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine import settings  # noqa: E402
from engine.store.runs import RunStore  # noqa: E402
from ui import compare_plots as cp  # noqa: E402
from ui import landscape_plots as lp  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("landscape_json")
    ap.add_argument("out", help="a .png or .html path")
    ap.add_argument("--store", help="the run store the runs are in (default: BACKPROP_LAB_STORE or .backprop-lab)")
    ap.add_argument("--figure", choices=("contour", "surface", "slices", "error"), default="contour")
    args = ap.parse_args()
    result = json.loads(Path(args.landscape_json).read_text())
    runs = RunStore(args.store or settings.default_store_path(), readonly=True).runs()
    ids = [p["run_id"] for p in result["paths"]]
    names, colors = cp.display_names(runs, ids), cp.run_colors(runs["run_id"].tolist())
    build = {"contour": lp.landscape_contour_figure, "surface": lp.landscape_surface_figure,
             "slices": lp.slices_figure, "error": lp.projection_error_figure}[args.figure]
    fig = build(result, names, colors).update_layout(width=820, margin={"l": 60, "r": 30, "t": 60, "b": 60})
    out = Path(args.out)
    if out.suffix == ".html":
        fig.write_html(out, include_plotlyjs=True)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "figure.html"
        fig.write_html(page, include_plotlyjs=True, config={"displayModeBar": False})
        _screenshot(page, out, fig.layout.height or 500)
    return 0


def _screenshot(page: Path, out: Path, height: int) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        tab = browser.new_page(viewport={"width": 1020, "height": int(height) + 20})
        tab.goto(page.as_uri())
        tab.locator(".main-svg").first.wait_for()
        tab.screenshot(path=str(out))
        browser.close()


if __name__ == "__main__":
    raise SystemExit(main())
