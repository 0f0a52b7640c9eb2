"""Figures and tables for the Compare page: overlays, gradient health small multiples, the runs table, the A/B diff.

Plain functions: RunStore frames in, Plotly figure or pandas table out. One colour per run (run_colors) is
passed to every builder, so a run looks the same in every chart on the page.
"""
from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from ui.axes import honest_axes, legend_below
from ui.text import safe_text

PALETTE = qualitative.Plotly + qualitative.D3[1:4] + qualitative.Dark2  # 20 distinct colours, then repeats
X_AXES = {"step": "step", "epoch": "epoch", "wall": "wall time (s since the run started)"}
GRAD_STATS = {"grad_norm": "‖∂L/∂W‖ (gradient norm)", "update_ratio": "‖ΔW‖/‖W‖ (update ratio)",
              "weight_norm": "‖W‖ (weight norm)", "dead_fraction": "dead ReLU fraction"}
LOSS_WORDS = {"mse": "squared error", "cross_entropy": "cross-entropy", "bce": "binary cross-entropy"}
# what each overlay metric is, short enough to fit along the y axis ({loss}: the runs' shared loss function)
METRIC_TITLES = {"loss": "loss of one batch{loss}", "train_loss": "training loss{loss}",
                 "val_loss": "validation loss{loss}", "train_accuracy": "training accuracy (fraction correct)",
                 "val_accuracy": "validation accuracy (fraction correct)", "seconds": "time per epoch (s)"}
OPTIMIZER_KEYS = ("optimizer", "impl", "lr", "momentum", "nesterov", "weight_decay", "betas", "eps")
RECORDING_KEYS = ("name", "stats_every", "log_every")  # how a run is logged, not what it computes
_NOT_METRICS = ("run_id", "step", "epoch", "wall")
# runs table: (column in RunStore.runs(), title)
TABLE_COLUMNS = [("name", "name"), ("parent_id", "branch of"), ("branch_step", "at step"),
                 ("config.optimizer", "optimizer"), ("config.lr", "lr"),
                 ("config.batch_size", "batch size"), ("config.seed", "seed"),
                 ("summary.final_val_loss", "val loss"), ("summary.final_val_accuracy", "val accuracy"),
                 ("summary.final_train_loss", "train loss"), ("summary.test_accuracy", "test accuracy"),
                 ("status", "status"), ("config.momentum", "momentum"), ("config.weight_decay", "weight decay"),
                 ("config.epochs", "epochs"), ("config.dataset", "dataset"), ("config.layers", "network"),
                 ("device", "device"), ("duration", "duration (s)"), ("sweep_id", "sweep"), ("created", "created"),
                 ("run_id", "run_id")]


def run_colors(run_ids: list[str]) -> dict[str, str]:
    """A colour per run from its position in the whole store (not in the selection), so it stays put."""
    return {rid: PALETTE[i % len(PALETTE)] for i, rid in enumerate(run_ids)}


def runs_table(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs table: one row per run, readable column titles, newest first."""
    cols = [(c, t) for c, t in TABLE_COLUMNS if c in runs.columns]
    table = runs[[c for c, _ in cols]].rename(columns=dict(cols))
    if "batch size" in table:  # ints and "full" in one column: show as text, not a mixed object column
        table["batch size"] = table["batch size"].map(lambda v: "" if _missing(v) else str(v))
    # a column no run has (test accuracy without a test set) would only show "None"
    empty = [c for c in table.columns if c != "name" and table[c].map(_missing).all()]
    return table.drop(columns=empty).iloc[::-1].reset_index(drop=True)


def filter_table(table: pd.DataFrame, filters: dict[str, list]) -> pd.DataFrame:
    """Rows whose value in each filtered column is one of the chosen values (compared as text)."""
    keep = pd.Series(True, index=table.index)
    for column, values in filters.items():
        if values:
            keep &= table[column].map(as_text).isin([as_text(v) for v in values])
    return table[keep].reset_index(drop=True)


def ema(values: list[float], smoothing: float) -> list[float]:
    """Exponential moving average s_t = w·s_{t-1} + (1−w)·y_t, s_0 = y_0 (w = smoothing ∈ [0, 1)).
    NaN points stay NaN and do not disturb the average."""
    if not 0 <= smoothing < 1:
        raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
    out, s = [], None
    for y in values:
        if y is None or math.isnan(y):
            out.append(math.nan)
            continue
        s = y if s is None else smoothing * s + (1 - smoothing) * y
        out.append(s)
    return out


def overlay_metrics(steps: pd.DataFrame, epochs: pd.DataFrame) -> list[str]:
    """Every metric the overlays can show: per-step ones (loss) first, then per-epoch ones."""
    names = [c for c in steps.columns if c not in _NOT_METRICS] + [c for c in epochs.columns if c not in _NOT_METRICS]
    return list(dict.fromkeys(names))


def overlay_source(steps: pd.DataFrame, epochs: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The frame a metric lives in: the per-step table if it has it, else the per-epoch table."""
    return steps if metric in steps.columns else epochs


def metric_title(metric: str, losses: list[str]) -> str:
    """The y-axis title of an overlay: what the metric is, and for a loss which one (each is a batch mean)."""
    kinds = sorted(set(losses))
    if len(kinds) == 1:
        loss = f" (mean {LOSS_WORDS.get(kinds[0], kinds[0])})"
    else:
        loss = f" (the runs' losses differ: {', '.join(kinds)})" if kinds else ""
    return METRIC_TITLES.get(metric, metric).format(loss=loss)


def mixed_datasets(runs: pd.DataFrame, run_ids: list[str]) -> list[str]:
    """The datasets of run_ids, sorted, when there is more than one (their losses do not share a scale)."""
    if "config.dataset" not in runs:
        return []
    found = sorted({str(d) for d in runs[runs["run_id"].isin(run_ids)]["config.dataset"].dropna()})
    return found if len(found) > 1 else []


@honest_axes
def overlay_figure(source: pd.DataFrame, metric: str, x: str, names: dict[str, str], colors: dict[str, str], *,
                   log_y: bool = False, smoothing: float = 0.0, losses: list[str] | None = None) -> go.Figure:
    """One line per run (names: run_id → label, in drawing order). With smoothing, the raw line stays, faint.
    Labels are users' run names: HTML-escaped in the legend, and the hover reads them from the trace
    (%{data.name}) so a name never becomes hovertemplate syntax."""
    fig = go.Figure()
    for rid, label in names.items():
        rows = source[source["run_id"] == rid].sort_values(x) if metric in source else source.iloc[0:0]
        ys = rows[metric].tolist() if len(rows) else []
        if not ys or all(math.isnan(y) for y in ys):
            continue  # this run never logged the metric (e.g. accuracy of a regression)
        xs, line, label = rows[x].tolist(), dict(color=colors.get(rid), width=2), safe_text(label)
        hover = f"%{{data.name}}<br>{x}=%{{x:.6g}}<br>{metric}=%{{y:.6g}}<extra></extra>"
        if smoothing > 0:
            fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name=f"{label} (raw)", legendgroup=rid, meta=rid,
                                     showlegend=False, opacity=0.25, line=dict(color=colors.get(rid), width=1),
                                     hovertemplate=hover))
            ys = ema(ys, smoothing)
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers" if len(xs) < 30 else "lines", name=label,
                                 legendgroup=rid, meta=rid, line=line, marker=dict(size=5), hovertemplate=hover))
    smooth = f", EMA smoothing {smoothing:g}" if smoothing > 0 else ""
    fig.update_layout(title=f"{metric} vs {x}{smooth}", xaxis_title=X_AXES.get(x, x),
                      yaxis_title=metric_title(metric, losses or []),
                      height=420, margin=dict(l=10, r=10, t=50, b=10), legend=legend_below(280))
    if log_y:
        fig.update_yaxes(type="log")
    if x == "epoch" and len(source) and source["epoch"].max() <= 20:
        fig.update_xaxes(dtick=1)  # whole epochs, not 1.5
    return fig


@honest_axes
def grad_health_figure(layer_stats: pd.DataFrame, names: dict[str, str], colors: dict[str, str], *,
                       stat: str = "grad_norm", x: str = "step", columns: int = 3) -> go.Figure:
    """Small multiples: one panel per layer, one line per run, log y (gradient norms span decades), one step
    range for all panels (a deeper network's layer 3 had its own, shorter range beside layer 1's)."""
    layers = sorted(layer_stats["layer"].unique()) if len(layer_stats) else []
    ncols = max(1, min(columns, len(layers)))
    nrows = max(1, math.ceil(len(layers) / ncols))
    fig = make_subplots(rows=nrows, cols=ncols, subplot_titles=[f"layer {lay} (W{_sub(lay)})" for lay in layers],
                        shared_xaxes="all", horizontal_spacing=0.06, vertical_spacing=0.12)
    for i, layer in enumerate(layers):
        for rid, label in names.items():
            rows = layer_stats[(layer_stats["run_id"] == rid) & (layer_stats["layer"] == layer)].sort_values(x)
            if not len(rows) or stat not in rows:
                continue
            fig.add_trace(go.Scatter(x=rows[x].tolist(), y=rows[stat].tolist(), mode="lines", name=safe_text(label),
                                     legendgroup=rid, meta=rid, showlegend=(i == 0), line=dict(color=colors.get(rid)),
                                     hovertemplate=f"%{{data.name}}<br>layer {layer}<br>{x}=%{{x}}<br>"
                                                   f"{stat}=%{{y:.3g}}<extra></extra>"),
                          row=i // ncols + 1, col=i % ncols + 1)
    fig.update_yaxes(type="log")
    fig.update_yaxes(title_text=GRAD_STATS.get(stat, stat).split(" (")[0], col=1)
    fig.update_xaxes(title_text=X_AXES.get(x, x), row=nrows)
    fig.update_xaxes(showticklabels=True)  # every panel its steps: a panel above an empty slot had none
    fig.update_layout(title=f"{GRAD_STATS.get(stat, stat)} per layer, log scale", height=260 * nrows + 80,
                      margin=dict(l=10, r=10, t=70, b=10), legend=legend_below(260 * nrows - 70))
    return fig


def _sub(n: int) -> str:
    return str(n).translate(str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉"))


def config_diff(config_a: dict, config_b: dict) -> pd.DataFrame:
    """The settings two runs differ in: setting, run A, run B, kind ("optimizer" / "recording" / "other")."""
    rows = []
    for key in list(dict.fromkeys([*config_a, *config_b])):
        a, b = config_a.get(key), config_b.get(key)
        if as_text(a) != as_text(b):
            kind = "optimizer" if key in OPTIMIZER_KEYS else "recording" if key in RECORDING_KEYS else "other"
            rows.append({"setting": key, "run A": as_text(a), "run B": as_text(b), "kind": kind})
    return pd.DataFrame(rows, columns=["setting", "run A", "run B", "kind"])


def ab_verdict(config_a: dict, config_b: dict) -> tuple[str, str]:
    """("controlled" | "same" | "uncontrolled", a sentence for the page) about two runs' configs."""
    diff = config_diff(config_a, config_b)
    other = diff[diff["kind"] == "other"]["setting"].tolist()
    optim = diff[diff["kind"] == "optimizer"]["setting"].tolist()
    if other:
        return "uncontrolled", (f"Not a controlled comparison: besides the optimizer the runs differ in "
                                f"{', '.join(other)}, so a difference in the curves may come from those.")
    if not optim:
        return "same", "The two runs have the same settings (the curves should match; only names differ)."
    seed = config_a.get("seed")
    same_adam = ({config_a.get("optimizer"), config_b.get("optimizer")} == {"adam", "adamw"}
                 and not config_a.get("weight_decay") and not config_b.get("weight_decay"))
    note = (" Adam and AdamW differ only in how they apply weight decay: with weight_decay 0 their curves "
            "coincide.") if same_adam else ""
    return "controlled", (f"Controlled A/B: the runs differ only in the optimizer settings ({', '.join(optim)}). "
                          f"Both use seed {seed}, so they start from the same initial weights and see the "
                          "batches in the same order (init from the generator seeded with seed, batch order "
                          f"from seed + 1): any difference in the curves is the optimizer's doing.{note}")


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def as_text(v) -> str:
    if _missing(v):
        return ""
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return f"{v:g}"
    return str(v)


def display_names(runs: pd.DataFrame, run_ids: list[str]) -> dict[str, str]:
    """run_id → legend label for run_ids (in that order); a name shared by two runs gains the short id."""
    name_of = dict(zip(runs["run_id"], runs["name"], strict=True))
    names = [name_of[rid] for rid in run_ids]
    return {rid: (f"{n} [{rid[:6]}]" if names.count(n) > 1 else n) for rid, n in zip(run_ids, names, strict=True)}


def metrics_csv(frame: pd.DataFrame, names: dict[str, str]) -> str:
    """A metrics frame (RunStore.steps / epochs) as CSV with the run's name next to its id."""
    out = frame.copy()
    out.insert(1, "name", out["run_id"].map(names))
    return out.to_csv(index=False)
