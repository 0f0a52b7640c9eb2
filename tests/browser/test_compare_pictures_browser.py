"""Compare's pictures read right at a glance, in a real browser (issue 11): HiPlot's axis labels do not overlap,
batch_size reads 1, 7, 32, 64, full along its axis, runs on different datasets get a warning, and the overlay's
axis titles stay clear of its legend. Screenshots go to test-artifacts/ (compare-pictures-*.png)."""
from __future__ import annotations

import re

import pytest

from engine.store.runs import RunStore
from engine.sweep.executors import expand_grid, run_sweep

pytestmark = pytest.mark.browser

HIPLOT = 'iframe[title="hiplot.streamlit_helpers.hiplot"]'
# (dataset, layers, optimizer, lr, batch_size, epochs, seed): long network names, every batch size kind, two
# datasets — the mix that made HiPlot's labels collide and its batch_size axis read full, 7, 64, 32, 1
RUNS = [("moons", "8:relu,2:identity", "sgd", 0.1, 1, 2, 0),
        ("moons", "16:relu,16:relu,2:identity", "adam", 0.01, 7, 3, 1),
        ("moons", "32:tanh,32:tanh,32:tanh,2:identity", "adam", 0.001, 32, 2, 2),
        ("circles", "8:relu,2:identity", "sgd", 1.0, 64, 3, 10),
        ("circles", "16:relu,16:relu,2:identity", "rmsprop", 0.01, "full", 2, 0)]


@pytest.fixture(scope="module")
def mixed_runs(app_home):
    configs = []
    for dataset, layers, optimizer, lr, batch, epochs, seed in RUNS:
        base = {"dataset": dataset, "n_samples": 120, "layers": layers, "epochs": epochs}
        configs += expand_grid(base, {"optimizer": [optimizer], "lr": [lr], "batch_size": [batch], "seed": [seed]})
    result = run_sweep(configs, RunStore(app_home / "runs.sqlite"))
    assert [p.status for p in result.points] == ["finished"] * len(RUNS)
    return result


@pytest.fixture(scope="module")
def compare(app_server, _browser, mixed_runs):
    """The Compare page over the mixed runs, HiPlot drawn; one page for every test of this module."""
    context = _browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(app_server + "/compare")
    page.get_by_text(re.compile(r"\d+ runs selected")).first.wait_for(timeout=90_000)
    iframe = page.locator(HIPLOT)
    iframe.evaluate("e => e.scrollIntoView({block: 'start'})")
    frame = iframe.element_handle().content_frame()
    frame.locator("g.dimension rect.overlay").first.wait_for()
    page.wait_for_timeout(1500)  # HiPlot animates its axes in
    yield page, frame
    context.close()


def _axes_text_boxes(frame) -> dict[str, list[dict]]:
    """Every visible text of the parallel plot, by axis (d3 keeps an axis's column name in g.dimension's __data__)."""
    return frame.evaluate("""() => {
        const out = {};
        for (const g of document.querySelectorAll('g.dimension')) {
            out[g.__data__] = Array.from(g.querySelectorAll('text')).filter(t => t.textContent.trim())
                .map(t => { const b = t.getBoundingClientRect();
                            return {text: t.textContent.trim(), x: b.x, y: b.y, w: b.width, h: b.height}; })
                .filter(b => b.w > 0 && b.h > 0);
        }
        return out;
    }""")


def _overlap(a: dict, b: dict) -> bool:
    return (a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"]
            and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"])


def test_hiplot_labels_of_different_axes_do_not_overlap(compare, artifacts):
    page, frame = compare
    page.screenshot(path=str(artifacts / "compare-pictures-hiplot.png"))
    boxes = _axes_text_boxes(frame)
    assert {"batch_size", "network", "dataset", "lr"} <= set(boxes), sorted(boxes)
    names = sorted(boxes)
    clashes = [(a["text"], b["text"]) for i, m in enumerate(names) for n in names[i + 1:]
               for a in boxes[m] for b in boxes[n] if _overlap(a, b)]
    assert clashes == []
    width = frame.evaluate("() => document.documentElement.clientWidth")
    cut = [b["text"] for texts in boxes.values() for b in texts if b["x"] < 0 or b["x"] + b["w"] > width]
    assert cut == []  # 'rmsprop' on the leftmost axis read 'msprop'


def test_hiplot_batch_size_axis_reads_in_numeric_order_with_full_last(compare):
    _, frame = compare
    ticks = [b for b in _axes_text_boxes(frame)["batch_size"] if b["text"] != "batch_size"]
    bottom_to_top = [b["text"] for b in sorted(ticks, key=lambda b: -b["y"])]
    assert bottom_to_top == ["1", "7", "32", "64", "full"]


def test_runs_on_different_datasets_are_said_to_share_one_axis(compare):
    page, _ = compare
    warning = page.get_by_text(re.compile("different datasets"))
    assert warning.count() >= 1
    assert "circles" in warning.first.inner_text() and "moons" in warning.first.inner_text()


def test_overlay_axis_titles_say_what_and_stay_clear_of_the_legend(compare, artifacts):
    overlay = _chart(compare[0], "overlay", artifacts)
    assert overlay.locator("text.ytitle").text_content() == "validation loss (mean cross-entropy)"
    _titles_clear(overlay)
    assert overlay.locator("g.colorbar").count() == 0  # a line chart has no colour scale


def test_health_axis_titles_stay_clear_of_the_legend(compare, artifacts):
    _titles_clear(_chart(compare[0], "health", artifacts))


def _chart(page, key: str, artifacts):
    """The Plotly chart keyed `key`, scrolled into view, its screenshot in test-artifacts/."""
    chart = page.locator(f".st-key-{key}")
    chart.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    chart.screenshot(path=str(artifacts / f"compare-pictures-{key}.png"))
    return chart


def _titles_clear(chart) -> None:
    """The figure's title, its axis titles and its legend do not overlap one another."""
    texts = chart.locator("text.gtitle, text[class*='title']").all()
    parts = [(t.text_content(), _box(t.bounding_box())) for t in texts]
    parts.append(("legend", _box(chart.locator("g.legend").bounding_box())))
    clashes = [(a, b) for i, (a, box_a) in enumerate(parts) for b, box_b in parts[i + 1:] if _overlap(box_a, box_b)]
    assert len(parts) >= 4 and clashes == []


def _box(b: dict) -> dict:
    return {"x": b["x"], "y": b["y"], "w": b["width"], "h": b["height"]}
