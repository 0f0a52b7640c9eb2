"""Compare: stored runs side by side — runs table, HiPlot, Plotly overlays, gradient health, A/B, loss landscape,
replay, sweeps.

The runs a chart shows: the table's filter → the rows ticked in it (all filtered rows when none are ticked)
→ narrowed by the HiPlot brush. Sweeps run on a background thread (engine.sweep.executors.SweepJob) polled by a
fragment, so a sweep survives reruns and page changes and the page stays usable while it runs.
"""
from __future__ import annotations

import hashlib

import streamlit as st

from engine import settings
from engine.data.load import DATASETS
from engine.store.runs import RunStore, StoreError
from engine.sweep.executors import EXECUTORS, SweepError, SweepJob, batch_size_value, expand_grid, parse_values
from engine.train import checkpoints
from engine.train.background import QUEUE, QueueFull
from engine.train.config import OPTIMIZER_NAMES, TRAIN_LOSSES, ConfigError
from engine.train.health_fill import health_stats
from ui import compare_plots as cp
from ui.bootstrap import ensure_navigation
from ui.choice import choose_many, choose_one
from ui.hiplot_view import brushed_runs, build_experiment, hiplot_selection, key_notes
from ui.landscape_section import landscape_section
from ui.owner import acting_owner, session_owner
from ui.replay_section import replay_section
from ui.session import alive_check, session_id
from ui.text import NAME_CHARS, TEXT_CHARS, plain_markdown

ensure_navigation()

MAX_SHOWN = 24  # runs drawn at once when none are ticked (the newest ones)
SWEEP_DATASETS = [d for d in DATASETS if d != "csv"]  # csv needs a file path: use the CLI


@st.cache_resource
def _open_store(path: str) -> RunStore:
    return RunStore(path)


def sweep_section(store: RunStore, expanded: bool) -> None:
    """The sweep form, and the progress of a sweep started from it."""
    with st.expander("Run a sweep: every combination of optimizers × learning rates × seeds", expanded=expanded):
        with st.form("sweep_form"):
            inputs = _sweep_inputs()
            submitted = st.form_submit_button("Start sweep", type="primary")
        if submitted:
            _start_sweep(store, inputs)
    job = st.session_state.get("sweep_job")
    if job is not None:
        _sweep_progress()
    elif "sweep_done" in st.session_state:
        _sweep_report(st.session_state["sweep_done"])


def _sweep_inputs() -> dict:
    c1, c2, c3 = st.columns(3)
    v = {"dataset": c1.selectbox("Dataset", SWEEP_DATASETS, index=SWEEP_DATASETS.index("moons")),
         "n_samples": c1.number_input("Samples (synthetic sets)", 50, 20_000, 500, step=50),
         "layers": c2.text_input("Layers (UNITS:ACTIVATION, …; the last is the output)", "16:relu,2:identity"),
         "loss": c2.selectbox("Loss", TRAIN_LOSSES, index=TRAIN_LOSSES.index("cross_entropy")),
         "epochs": c3.number_input("Epochs", 1, 500, 10)}
    v["optimizers"] = st.multiselect("Optimizers", OPTIMIZER_NAMES, default=["sgd", "rmsprop", "adam", "adamw"])
    c4, c5, c6 = st.columns(3)
    v["lrs"] = c4.text_input("Learning rates (comma-separated)", "0.01, 0.1")
    v["seeds"] = c5.text_input("Seeds (comma-separated)", "0")
    v["batch_sizes"] = c6.text_input("Batch sizes (comma-separated, or full)", "32")
    ray_where = "the operator's Ray cluster" if settings.ray_address() else "a local Ray instance"
    v["executor"] = st.radio("Run on", EXECUTORS, horizontal=True,
                             help="local: one run after another in the server; process: 2 worker processes; "
                                  f"ray: Ray tasks on {ray_where} (pip install -r requirements-ray.txt). The "
                                  f"cluster is the operator's choice ({settings.RAY_ADDRESS_ENV}), not the form's.")
    return v


def _start_sweep(store: RunStore, v: dict) -> None:
    job = st.session_state.get("sweep_job")
    if job is not None and job.snapshot()["status"] in ("running", "queued"):
        st.warning("A sweep is already running; wait for it or stop it first.")
        return
    try:
        grid = {"optimizer": v["optimizers"], "lr": parse_values(v["lrs"], float, "learning rates"),
                "seed": parse_values(v["seeds"], int, "seeds"),
                "batch_size": parse_values(v["batch_sizes"], batch_size_value, "batch sizes")}
        base = {k: v[k] for k in ("dataset", "n_samples", "layers", "loss", "epochs")}
        configs = expand_grid(base, grid)
    except (SweepError, ConfigError, ValueError) as err:
        st.error(f"The sweep was not started: {plain_markdown(err, TEXT_CHARS)}")
        return
    # the Ray address comes only from the operator's setting: a form never reaches an arbitrary address
    options = {"executor": v["executor"], "ray_address": settings.ray_address(), "workers": 2}
    mine = RunStore(store.path, owner=session_owner())  # the sweep's runs are this visitor's
    sid = session_id()
    job = SweepJob(configs, mine, owner=sid, alive=alive_check(sid), **options)
    try:
        QUEUE.submit(job)  # runs now, or waits for a free slot (the server caps concurrent trainings)
    except QueueFull as err:
        st.error(f"The sweep was not started: {plain_markdown(err, TEXT_CHARS)}")
        return
    st.session_state["sweep_job"] = job
    st.session_state.pop("sweep_done", None)


@st.fragment(run_every=1.0)
def _sweep_progress() -> None:
    job = st.session_state.get("sweep_job")
    if job is None:
        return
    snap = job.snapshot()
    if snap["status"] == "queued":
        st.info(f"queued: position {snap['position']} — the server runs {QUEUE.limits.max_jobs} trainings at once "
                f"({QUEUE.limits.max_jobs_per_session} per session); this sweep starts when a slot is free.")
        st.button("Cancel the sweep", on_click=job.stop, key="sweep_stop")
        return
    if snap["points"]:
        text = f"{snap['done']} of {snap['total']} runs done (last: {snap['points'][-1].name})"
    else:  # nothing finished yet: say what the executor is doing ("starting Ray (first sweep only, ~30 s)")
        text = f"0 of {snap['total']} runs done — {snap.get('phase') or 'starting'}"
    st.progress(snap["done"] / snap["total"], text=f"Sweep {snap['sweep_id']}: {text}")
    st.button("Stop the sweep (the running points finish)", on_click=job.stop, key="sweep_stop")
    if snap["status"] != "running":
        st.session_state["sweep_done"] = snap
        del st.session_state["sweep_job"]
        st.rerun()


def _sweep_report(snap: dict) -> None:
    points = snap["points"]
    failed = [p for p in points if p.status == "failed"]
    text = f"Sweep {snap['sweep_id']} {snap['status']}: {len(points) - len(failed)} of {snap['total']} runs stored."
    if snap["message"]:
        st.error(f"{text} {plain_markdown(snap['message'], TEXT_CHARS)}")
    elif failed:
        st.warning(f"{text} Failed: " + "; ".join(plain_markdown(f"{p.name}: {p.message}", TEXT_CHARS)
                                                 for p in failed[:3]))
    else:
        st.success(text)
    st.button("Show this sweep", on_click=_pick_sweep, args=(snap["sweep_id"],), key="show_sweep")


def _pick_sweep(sweep_id: str) -> None:
    st.session_state["sweep_filter"] = sweep_id
    st.session_state["table_version"] = st.session_state.get("table_version", 0) + 1


def table_section(runs, table):
    """Filters and the selectable runs table; returns (filtered table, ticked run ids)."""
    sweep_ids = [s for s in dict.fromkeys(runs["sweep_id"].dropna())][::-1]
    if st.session_state.get("sweep_filter") not in [None, "all runs", *sweep_ids]:
        st.session_state["sweep_filter"] = "all runs"
    c1, c2 = st.columns([1, 2])
    sweep = c1.selectbox("Sweep", ["all runs", *sweep_ids], key="sweep_filter",
                         format_func=lambda s: s if s == "all runs" else
                         f"{s} ({int((runs['sweep_id'] == s).sum())} runs)")
    columns = c2.multiselect("Filter by column", [c for c in table.columns if c != "run_id"], key="filter_columns")
    filters = {"sweep": [sweep]} if sweep != "all runs" else {}
    if columns:
        for col, box in zip(columns, st.columns(len(columns)), strict=True):
            values = sorted({cp.as_text(v) for v in table[col]})
            filters[col] = box.multiselect(col, values, key=f"filter_{col}")
    filtered = cp.filter_table(table, filters)
    version = st.session_state.get("table_version", 0)
    event = st.dataframe(filtered, key=f"runs_table_{version}", on_select="rerun", selection_mode="multi-row",
                         hide_index=True, column_config={"duration (s)": st.column_config.NumberColumn(format="%.2f"),
                                                         "lr": st.column_config.NumberColumn(format="%g")})
    rows = [r for r in event.selection.rows if r < len(filtered)]
    st.download_button("Download this table (CSV)", filtered.to_csv(index=False), "runs.csv", "text/csv")
    return filtered, filtered["run_id"].iloc[rows].tolist()


def manage_section(store: RunStore, runs, ticked: list[str]) -> None:
    """Rename one run; delete runs after a confirmation — only the visitor's own runs, unless the operator
    set BACKPROP_LAB_ADMIN=1 (everyone sees every run; changing one is its owner's call)."""
    by = acting_owner()
    mine = runs if by is None else runs[runs["owner"] == by]
    newest = mine.iloc[::-1]
    label = dict(zip(newest["run_id"], newest["name"] + " [" + newest["run_id"].str[:6] + "]", strict=True))
    ids = list(label)
    ticked = [rid for rid in ticked if rid in label]
    tag = hashlib.sha1(",".join(ticked).encode()).hexdigest()[:8]  # defaults follow the ticked rows
    with st.expander("Rename or delete runs" if by is None else f"Rename or delete your runs ({len(ids)})"):
        if not ids:
            st.caption("You can rename or delete the runs started in this browser session (on Train, or by a "
                       "sweep here); there are none yet. Other visitors' runs are read-only to you.")
            return
        c1, c2 = st.columns(2)
        rid = choose_one(c1, "Run to rename", label, index=ids.index(ticked[0]) if ticked else 0,
                         key=f"rename_id_{tag}")
        new = c1.text_input("New name", key=f"rename_to_{tag}", max_chars=NAME_CHARS)
        if c1.button("Rename", disabled=not new.strip()):
            _act(lambda: store.rename(rid, new.strip(), by=by), f"Renamed to “{plain_markdown(new.strip())}”.")
        doomed = choose_many(c2, "Runs to delete", label, default=ticked, key=f"delete_{tag}")
        sure = c2.checkbox(f"Yes, delete {len(doomed)} run(s) and all their metrics", key=f"delete_ok_{tag}")
        if c2.button("Delete", type="primary", disabled=not (doomed and sure)):
            _act(lambda: store.delete(doomed, by=by), f"Deleted {len(doomed)} run(s).")


def _act(action, message: str) -> None:
    try:
        action()
    except StoreError as err:
        st.error(plain_markdown(err, TEXT_CHARS))
        return
    st.session_state["compare_flash"] = message
    st.session_state["table_version"] = st.session_state.get("table_version", 0) + 1
    st.rerun()


def hiplot_section(runs, candidates: list[str], colors: dict) -> list[str]:
    """HiPlot over the candidate runs; returns the runs inside the brush."""
    st.subheader("Hyperparameters → results (HiPlot)")
    st.caption("Drag along any axis to brush a range; the charts below keep only the runs inside the brush. "
               "Click an axis outside the brush to clear it. Learning rate is on a log axis.")
    chosen = runs.set_index("run_id").loc[candidates].reset_index()
    exp = build_experiment(chosen, colors)
    key = "hiplot_" + hashlib.sha1(",".join(candidates).encode()).hexdigest()[:10]
    shown, narrowed = brushed_runs(candidates, hiplot_selection(exp, key=key))
    for note in key_notes(chosen):  # long values are keys on their axis (they ran over the next axis)
        st.caption(note)
    how = "brushed in HiPlot" if narrowed else "no HiPlot brush"
    st.markdown(f"**{len(shown)} runs selected** of {len(candidates)} ({how}).")
    return shown


def overlay_section(store: RunStore, runs, shown: list[str], names: dict, colors: dict) -> None:
    st.subheader("Overlays")
    datasets = cp.mixed_datasets(runs, shown)
    if datasets:
        st.warning(f"These runs were trained on different datasets ({plain_markdown(', '.join(datasets))}): their "
                   "losses and accuracies share one axis below but measure different tasks. Filter the table by "
                   "dataset to compare like with like.")
    steps, epochs = store.steps(shown), store.epochs(shown)
    metrics = cp.overlay_metrics(steps, epochs)
    if not metrics:
        st.info("These runs have no metrics yet.")
        return
    c1, c2, c3, c4 = st.columns([2, 2, 1, 2])
    metric = c1.selectbox("Metric", metrics, index=metrics.index("val_loss") if "val_loss" in metrics else 0)
    x = c2.radio("Against", list(cp.X_AXES), index=1, horizontal=True, format_func=lambda k: k.replace("wall", "time"))
    log_y = c3.toggle("log y", value=metric.endswith("loss"), help="on by default for losses: they span decades")
    smoothing = c4.slider("Smoothing (EMA weight)", 0.0, 0.95, 0.0, 0.05)
    source = cp.overlay_source(steps, epochs, metric)
    losses = runs[runs["run_id"].isin(shown)]["config.loss"].dropna().tolist() if "config.loss" in runs else []
    st.plotly_chart(cp.overlay_figure(source, metric, x, names, colors, log_y=log_y, smoothing=smoothing,
                                      losses=losses), key="overlay")
    c5, c6 = st.columns(2)
    c5.download_button("Selected runs' per-epoch metrics (CSV)", cp.metrics_csv(epochs, names), "epochs.csv")
    c6.download_button("Selected runs' per-step loss (CSV)", cp.metrics_csv(steps, names), "steps.csv")


def health_section(store: RunStore, shown: list[str], names: dict, colors: dict) -> None:
    st.subheader("Gradient health across runs")
    stats = health_stats(store, shown)
    if stats.empty:
        st.info("These runs recorded no per-layer statistics.")
        return
    options = [s for s in cp.GRAD_STATS if s in stats.columns]
    stat = choose_one(st, "Statistic", {s: cp.GRAD_STATS[s] for s in options}, key="health_stat")
    st.caption("One panel per layer, one line per run (same colours as above). Falling by decades toward 0: "
               "vanishing gradients; climbing by decades: exploding.")
    st.plotly_chart(cp.grad_health_figure(stats, names, colors, stat=stat), key="health")


def ab_section(runs, shown: list[str], ticked: list[str], names: dict) -> None:
    st.subheader("Controlled A/B: two runs' settings")
    pool = ticked if len(ticked) >= 2 else shown
    if len(pool) < 2:
        st.caption("Select at least two runs to compare their settings.")
        return
    c1, c2 = st.columns(2)
    labels = {rid: names[rid] for rid in pool}
    a = choose_one(c1, "Run A", labels, index=0, key="ab_a")
    b = choose_one(c2, "Run B", labels, index=1, key="ab_b")
    config = dict(zip(runs["run_id"], runs["config"], strict=True))
    kind, sentence = cp.ab_verdict(config[a], config[b])
    {"controlled": st.success, "same": st.info, "uncontrolled": st.warning}[kind](sentence)
    diff = cp.config_diff(config[a], config[b])
    if len(diff):
        st.dataframe(diff, hide_index=True)


def main() -> None:
    st.title("Compare runs")
    st.caption("Stored runs side by side. Filter and tick runs in the table, brush in HiPlot, read the overlays.")
    try:
        store = _open_store(str(settings.default_store_path()))
        runs = checkpoints.with_lineage(store, store.runs())
    except StoreError as err:
        st.error(f"The run store could not be read: {err}")
        return
    if "compare_flash" in st.session_state:
        st.success(st.session_state.pop("compare_flash"))
    sweep_section(store, expanded=runs.empty)
    if runs.empty and "sweep_job" in st.session_state:
        st.info("The sweep's runs appear here when it finishes.")
        return
    if runs.empty:
        st.info("No runs stored yet. Start a sweep with the form above, train a run on the **Train** page, or "
                "from a terminal: `python -m engine sweep --dataset moons --layers 16:relu,2:identity "
                "--optimizers sgd,adam --lrs 0.01,0.1 --epochs 5`.")
        return
    colors = cp.run_colors(runs["run_id"].tolist())
    st.subheader("Runs")
    filtered, ticked = table_section(runs, cp.runs_table(runs))
    manage_section(store, runs, ticked)
    candidates = ticked or filtered["run_id"].tolist()[:MAX_SHOWN]
    if not candidates:
        st.info("No run matches the filters.")
        return
    if not ticked and len(filtered) > MAX_SHOWN:
        st.caption(f"Showing the newest {MAX_SHOWN} of {len(filtered)} runs; tick rows or filter to choose others.")
    shown = hiplot_section(runs, candidates, colors)
    if not shown:
        st.info("No run is inside the HiPlot brush; widen or clear it.")
        return
    names = cp.display_names(runs, shown)
    overlay_section(store, runs, shown, names, colors)
    health_section(store, shown, names, colors)
    ab_section(runs, shown, ticked, names)
    landscape_section(store, runs, shown, names, colors)
    replay_section(store, runs, shown, colors)


main()
