"""HiPlot parallel coordinates over runs (hyperparameters → final metrics), with the brush coming back.

hiplot 0.1.33's `Experiment.to_streamlit` reads `st._is_running_with_streamlit`, which Streamlit removed
(hiplot issue 273; the fix was never released). The component itself still works: we provide the flag from
`streamlit.runtime.exists()` before calling it. Each run is a datapoint whose uid is its run_id, so the
"selected_uids" the component returns are run ids.
"""
from __future__ import annotations

import html
import math

import hiplot as hip
import pandas as pd
import streamlit as st
import streamlit.runtime

from ui.text import TEXT_CHARS, plain_markdown, safe_text

# (runs() column, HiPlot column): shown when they vary across the runs (optimizer and lr always)
HYPER_COLUMNS = [("config.init", "init"), ("config.optimizer", "optimizer"), ("config.lr", "lr"),
                 ("config.lr_schedule", "lr_schedule"), ("config.momentum", "momentum"),
                 ("config.nesterov", "nesterov"), ("config.weight_decay", "weight_decay"),
                 ("config.batch_size", "batch_size"),
                 ("config.seed", "seed"), ("config.epochs", "epochs"), ("config.layers", "network"),
                 ("config.dataset", "dataset"), ("config.n_samples", "n_samples"), ("branch_step", "branch_step")]
METRIC_COLUMNS = [("summary.final_train_loss", "train_loss"), ("summary.final_val_loss", "val_loss"),
                  ("summary.final_val_accuracy", "val_accuracy"), ("summary.test_accuracy", "test_accuracy")]
ALWAYS = ("optimizer", "lr")
COUNTS = ("seed", "batch_size", "epochs")  # a handful of distinct whole numbers: one tick per value
# Axes sit ~80 px apart and a categorical tick is written leftwards from its axis (10 px font): a longer
# value ('16:relu,16:relu,2:identity') runs over the next axis, so it is shown as a key spelled out below.
MAX_TICK_CHARS = 8
OLD_RUN_DEFAULTS = {"config.lr_schedule": "constant"}  # runs stored before the field existed trained this way


def run_label(name: str, run_id: str) -> str:
    """A unique label per run (names can repeat across sweeps), HTML-escaped and capped: HiPlot's table
    inserts cell text as HTML, so a name like <img onerror=…> would run in every visitor's browser."""
    return f"{safe_text(name)} [{safe_text(run_id[:6])}]"


def build_experiment(runs: pd.DataFrame, colors: dict[str, str] | None = None) -> hip.Experiment:
    """One datapoint per run (uid = run_id): the hyperparameters that vary, then the final metrics.
    lr and positive losses are on log axes; lines are coloured by run with the page's run colours."""
    runs = runs.assign(**{c: runs[c].fillna(v) for c, v in OLD_RUN_DEFAULTS.items() if c in runs})
    columns = _columns(runs)
    ticks = _tick_labels(runs, columns)
    exp = hip.Experiment()
    for row in runs.to_dict("records"):
        values = {"run": run_label(row["name"], row["run_id"])}
        for source, title in columns:
            value = _plain(row.get(source))
            if value is not None and title in ticks:
                values[title] = ticks[title][value]
                if title not in COUNTS:
                    values[f"{title} (in full)"] = value  # the table (not the plot) shows what a key stands for
            elif value is not None:
                values[title] = value
        exp.datapoints.append(hip.Datapoint(uid=row["run_id"], values=values))
    exp.parameters_definition["lr"].type = hip.ValueType.NUMERIC_LOG
    for title in ("train_loss", "val_loss"):  # one diverged run (8e14) would squash the others on a linear axis
        values = [dp.values[title] for dp in exp.datapoints if title in dp.values]
        if values and min(values) > 0:  # a log axis has no place for 0
            exp.parameters_definition[title].type = hip.ValueType.NUMERIC_LOG
    for title in ("run", *ticks):
        exp.parameters_definition[title].type = hip.ValueType.CATEGORICAL
    if colors:
        exp.parameters_definition["run"].colors = {run_label(n, r): css_rgb(colors[r])
                                                   for n, r in zip(runs["name"], runs["run_id"], strict=True)
                                                   if r in colors}
    exp.colorby = "run"
    exp.enabledDisplays = [hip.Displays.PARALLEL_PLOT, hip.Displays.TABLE]
    # hiplot lays out right to left; lr leftmost: its short numeric ticks fit the plot's 50 px left margin
    order = [t for _, t in columns if t != "lr"][::-1] + ["lr"]
    in_full = [f"{t} (in full)" for t in ticks if t not in COUNTS]
    exp.display_data(hip.Displays.PARALLEL_PLOT).update({"order": order, "hide": ["uid", "from_uid", "run", *in_full]})
    exp.display_data(hip.Displays.TABLE).update({"hide": ["from_uid"], "order_by": [["uid", "asc"]]})
    return exp


def key_notes(runs: pd.DataFrame) -> list[str]:
    """A markdown line per keyed axis: 'network: **A** = 16:relu,16:relu,2:identity · **B** = 8:relu,2:identity'."""
    runs = runs.assign(**{c: runs[c].fillna(v) for c, v in OLD_RUN_DEFAULTS.items() if c in runs})
    keyed = {t: m for t, m in _tick_labels(runs, _columns(runs)).items() if t not in COUNTS}
    return [f"{title}: " + " · ".join(f"**{key}** = {plain_markdown(html.unescape(value))}"  # _plain escaped it
                                      for value, key in sorted(m.items(), key=lambda kv: kv[1]))
            for title, m in keyed.items()]


def _tick_labels(runs: pd.DataFrame, columns: list[tuple[str, str]]) -> dict[str, dict]:
    """title → {value: tick label} for the categorical axes whose values would mislead as they are.

    hiplot sorts a categorical axis's values as strings ('1' < '100000' < '32' < '7'). Counts are left-padded
    with spaces to one width — SVG does not draw leading spaces, and a space sorts before every digit, so
    string order becomes numeric order and 'full' (a letter) comes last. Text longer than MAX_TICK_CHARS
    becomes a key A, B, … in the text's own order."""
    out = {}
    for source, title in columns:
        values = sorted({v for v in runs[source].map(_plain) if v is not None}, key=str)
        if title in COUNTS:
            width = max([len(str(v)) for v in values if not isinstance(v, str)] or [0])
            out[title] = {v: v if isinstance(v, str) else str(v).rjust(width) for v in values}
        elif any(isinstance(v, str) and len(v) > MAX_TICK_CHARS for v in values):
            out[title] = {v: _key(i) for i, v in enumerate(values)}
    return out


def _key(i: int) -> str:
    return chr(ord("A") + i % 26) + (str(i // 26) if i >= 26 else "")


def css_rgb(color: str) -> str:
    """"#RRGGBB" → "rgb(R, G, B)": hiplot's line colouring only understands the rgb() form."""
    if color.startswith("#") and len(color) == 7:
        return "rgb({}, {}, {})".format(*(int(color[i:i + 2], 16) for i in (1, 3, 5)))
    return color


def _columns(runs: pd.DataFrame) -> list[tuple[str, str]]:
    """Hyperparameters that vary across the runs (plus optimizer and lr), then metrics any run has."""
    hyper = [(c, t) for c, t in HYPER_COLUMNS
             if c in runs and (t in ALWAYS or runs[c].map(lambda v: str(_plain(v))).nunique() > 1)]
    metrics = [(c, t) for c, t in METRIC_COLUMNS if c in runs and runs[c].map(_plain).notna().any()]
    return hyper + metrics


def _plain(value):
    """A JSON-safe scalar (NaN → None, numpy → Python, floats to 4 significant digits, lists → text);
    text is HTML-escaped and capped (config values such as dataset or layers come from users)."""
    if value is None:
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float):
        return float(f"{value:.4g}") if math.isfinite(value) else None  # 4 significant digits: readable table
    if isinstance(value, (list, tuple, dict, str)):
        return safe_text(value, TEXT_CHARS)
    return value


def hiplot_selection(exp: hip.Experiment, *, key: str) -> list[str] | None:
    """Draw the experiment as the HiPlot Streamlit component; return the run ids inside the brush (all of
    them before any brushing), or None when there is no Streamlit runtime to draw in (bare script)."""
    if not streamlit.runtime.exists():
        return None
    st._is_running_with_streamlit = True  # what hiplot's component helper checks (hiplot issue 273)
    selected = exp.to_streamlit(key=key, ret="selected_uids").display()
    return [str(uid) for uid in selected] if selected is not None else []


def brushed_runs(candidates: list[str], selected: list[str] | None) -> tuple[list[str], bool]:
    """Candidates kept by the brush, in candidate order, and whether the brush narrowed them.

    A selection that names none of the candidates is left over from other data (the component answers
    the previous experiment until it redraws): it is ignored rather than emptying the page."""
    if selected is None:
        return list(candidates), False
    chosen = set(selected)
    if chosen and not chosen & set(candidates):
        return list(candidates), False
    kept = [rid for rid in candidates if rid in chosen]
    return kept, len(kept) < len(candidates)
