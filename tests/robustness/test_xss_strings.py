"""User strings reach HiPlot, Plotly and graphviz as inert text: escaped, capped, and still reading literally."""
from __future__ import annotations

import html
import re

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from engine.inspector.autograd_graph import autograd_dot
from engine.inspector.spec import NetworkSpec
from ui import compare_plots as cp
from ui.hiplot_view import build_experiment, key_notes
from ui.text import NAME_CHARS, WORD_JOINER, clip, plain_markdown, safe_text

IMG = "<img src=x onerror=alert(1)>"
LINK = '<a href="javascript:alert(2)">x</a>'
MD = "[phish](https://example.invalid) ![p](https://example.invalid/p.png)"
IDS = ["aaaaaa111111", "bbbbbb222222", "cccccc333333"]


def _runs() -> pd.DataFrame:
    return pd.DataFrame({
        "run_id": IDS, "name": [IMG, LINK, MD],
        "config.optimizer": ["sgd", "adam", "sgd"], "config.lr": [0.01, 0.1, 0.1],
        "config.dataset": ["<svg onload=alert(3)>", "moons", "csv"], "summary.final_val_loss": [0.5, 0.4, 0.3]})


def _no_markup(text: str) -> bool:
    return "<" not in text and ">" not in text and '"' not in text


def test_hiplot_datapoints_carry_names_and_config_text_escaped():
    exp = build_experiment(_runs(), {rid: "#636EFA" for rid in IDS})
    texts = [v for dp in exp.datapoints for v in dp.values.values() if isinstance(v, str)]
    assert texts and all(_no_markup(t) for t in texts), texts
    runs = [dp.values["run"] for dp in exp.datapoints]
    assert [html.unescape(r) for r in runs] == [f"{IMG} [aaaaaa]", f"{LINK} [bbbbbb]", f"{MD} [cccccc]"]
    # a long value is a key on the axis ('A'); the table's "(in full)" column holds it, escaped like the rest
    assert exp.datapoints[0].values["dataset"] == "A"
    assert html.unescape(exp.datapoints[0].values["dataset (in full)"]) == "<svg onload=alert(3)>"
    notes = " ".join(key_notes(_runs()))  # the keys spelled out under the plot, as markdown
    assert "**A** =" in notes and "\\<svg onload" in notes and not re.search(r"(?<!\\)<", notes)  # every < escaped
    assert set(exp.parameters_definition["run"].colors) == set(runs)  # colours still find their lines


def test_hiplot_caps_a_long_name():
    runs = _runs().assign(name=["n" * 5000, "b", "c"])
    label = build_experiment(runs).datapoints[0].values["run"]
    assert label == "n" * (NAME_CHARS - 1) + "… [aaaaaa]"


def _store_frames():
    epochs = pd.DataFrame({"run_id": IDS, "epoch": [1, 1, 1], "val_loss": [0.5, 0.4, 0.3]})
    stats = pd.DataFrame({"run_id": IDS, "step": [1, 1, 1], "epoch": [1, 1, 1], "layer": [1, 1, 1],
                          "grad_norm": [0.1, 0.2, 0.3]})
    return epochs, stats


def test_plotly_legends_are_escaped_and_hover_reads_the_name_from_the_trace():
    epochs, stats = _store_frames()
    names = dict(zip(IDS, [IMG, LINK, "%{y} " + MD], strict=True))
    colors = cp.run_colors(IDS)
    for fig in (cp.overlay_figure(epochs, "val_loss", "epoch", names, colors, smoothing=0.5),
                cp.grad_health_figure(stats, names, colors)):
        for trace in fig.data:
            assert _no_markup(trace.name), trace.name
            assert html.unescape(trace.name).removesuffix(" (raw)") == names[trace.meta]
            assert trace.hovertemplate.startswith("%{data.name}<br>")
            assert "alert" not in trace.hovertemplate and "phish" not in trace.hovertemplate
            fields = re.findall(r"%\{[^}]*\}", trace.hovertemplate)[1:]
            assert fields in (["%{x:.6g}", "%{y:.6g}"], ["%{x}", "%{y:.3g}"])  # the name added no template field


def test_graphviz_labels_hold_no_spec_text():
    spec = NetworkSpec.from_dict({"input_size": 1, "layers": [{"units": 1}], "name": IMG})
    dot = autograd_dot(spec)
    assert "onerror" not in dot and "label=<" not in dot  # quoted plain labels, never HTML-like labels


@given(st.text(max_size=NAME_CHARS))
def test_safe_text_reads_back_literally_and_holds_no_markup(s):
    out = safe_text(s)
    assert _no_markup(out)
    assert html.unescape(out) == clip(s)


def test_clip_keeps_one_line_and_the_cap():
    assert clip("a\nb\tc\x00d") == "a b c d"
    assert clip("x" * 81) == "x" * 79 + "…" and len(clip("y" * 10**6)) == NAME_CHARS
    assert clip(None) == ""


def test_plain_markdown_escapes_links_images_html_directives_and_autolinks():
    out = plain_markdown(f"{MD} :red[big] $x$ <b>b</b> www.example.invalid a@example.invalid", 300)
    for raw in ("[phish]", "](", "![", ":red[", "$x$", "<b>"):
        assert raw not in out, raw
    assert "https\\:" + WORD_JOINER + "//" in out and "www" + WORD_JOINER + r"\." in out
    assert "@" + WORD_JOINER in out
    unescaped = re.sub(r"\\(.)", r"\1", out).replace(WORD_JOINER, "")
    assert unescaped.startswith("[phish](https://example.invalid)")
