"""Train: choose data, a network and an optimizer; watch the run live; every run lands in the run store."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from engine.data import DataError
from engine.store.runs import RunStore, StoreError
from engine.train import boundary, health
from engine.train.background import QUEUE
from engine.train.config import ConfigError, TrainConfig
from engine.train.health_fill import health_stats
from engine.train.jobs import JOBS, progress, start_job
from engine.train.loop import load_data
from engine.train.model import check_fit
from engine.train.recorder import END_KINDS
from ui import train_form as F
from ui import train_plots as P
from ui.bootstrap import ensure_navigation
from ui.health_fill_view import fill_section
from ui.owner import session_owner
from ui.replay_player import replay_player
from ui.session import alive_check, session_id
from ui.text import TEXT_CHARS, plain_markdown

ensure_navigation()

POLL_SECONDS = 1.0  # the live view's refresh while a run goes on; it stops polling when the run ends
JOB_KEY = "train_job"  # session state: the id of this session's job in engine.train.jobs.JOBS
ENDED = ("finished", "diverged", "stopped", "failed")
AUTO_FILL_STEPS = 2_000  # runs this short get every step's health filled in here (moons, 20 epochs: 500 steps)
EPOCH_COLUMNS = ["epoch", "step", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "seconds"]

HOW_IT_RUNS = f"""
- **Where:** the whole dataset is copied to the device once (GPU when there is one) as tensors; each epoch
  walks a seeded random permutation of the rows in batches — no DataLoader, no per-sample Python.
- **Loss:** the mean over the batch. *train loss* of an epoch = the mean of its batch losses, each taken
  before that batch's step; *validation* is measured after the epoch on rows the model never trains on.
- **Background:** the run trains on a server thread, so you can open another page and come back.
  Every run is written to the run store as it goes (open **Compare** to put runs side by side).
- **Loss curve:** step 0 is the untrained network's loss on the training set (≤ 2048 evenly spaced rows);
  then every step up to step 50 and every {TrainConfig().log_every}th after. A loss that becomes inf/NaN or
  grows 10 000× over step 0 (and past 100) ends the run as *diverged*.
- **Health flags** (checked at every step while that costs ≤ {health.STATS_BUDGET:.0%} of the run's time, else every
  k-th step; at most ~{health.MAX_STATS_STEPS:,} checks a run, and always the last step; afterwards an exact
  replay fills in every step — here by itself for runs up to {AUTO_FILL_STEPS:,} steps, on **Compare**'s replay
  for any run; per layer):
  - *vanishing*: ‖∂L/∂W‖ < {health.VANISHING:.0e} — the layer has all but stopped learning;
  - *exploding*: ‖∂L/∂W‖ > {health.EXPLODING:.0e};
  - *updates too large*: ‖ΔW‖/‖W‖ > {health.UPDATE_TOO_LARGE:.0e} (about 1e-3 is healthy);
  - *dead ReLUs*: more than {health.DEAD_TOO_MANY:.0%} of a layer's ReLUs output 0 for the whole batch;
  - *saturated*: more than {health.DEAD_TOO_MANY:.0%} of sigmoid/tanh outputs sit where φ′ < 0.01.
"""
HISTOGRAM_HINT = ("**Reading the histograms:** healthy weights keep a smooth spread that shifts slowly from epoch "
                  "to epoch, and gradients centre on 0. Gradients squeezed at 0 in *every* layer mean the network "
                  "has stopped learning (vanishing); long tails or a spread that keeps growing means updates are "
                  "too big. A spike of exact zeros in **layer 1's ∂L/∂W** alone is the inputs, not the layer: "
                  "∂L/∂W₁ = δ₁ᵀ x, so an input that is 0 in every row (MNIST's blank border pixels) gives its "
                  "column a gradient of exactly 0.")


def _start(cfg) -> None:
    """Load the data (errors show here, not in the worker), check the output layer fits, start the job."""
    try:
        with st.spinner(f"Loading {cfg.dataset} …"):
            data = load_data(cfg)
        check_fit(cfg, data)
        sid = session_id()
        st.session_state[JOB_KEY] = start_job(cfg, RunStore(owner=session_owner()), name=cfg.name, data=data,
                                              owner=sid, alive=alive_check(sid))
    except (ConfigError, DataError, StoreError, ValueError) as err:  # QueueFull is a ValueError
        st.error(f"Cannot start: {plain_markdown(err, TEXT_CHARS)}")  # messages quote CSV paths and columns


def _status(job, snap) -> None:
    """Progress with ETA and a Stop button while running; the outcome once it ended."""
    stored = f"Stored as run `{snap.run_id}`." if snap.run_id else "Not stored."
    position = job.position
    if position is not None:
        limits = QUEUE.limits
        info, cancel = st.columns([5, 1], vertical_alignment="center")
        info.info(f"queued: position {position} — the server trains {limits.max_jobs} runs at once "
                  f"({limits.max_jobs_per_session} per session); this run starts when a slot is free.")
        cancel.button("Cancel", key="train_cancel", on_click=job.stop, icon=":material/cancel:")
    elif snap.status == "starting":
        st.info("Starting: moving the data to the device and building the model …")
    elif snap.status == "running":
        wall = snap.steps[-1]["wall"] if snap.steps else 0.0
        frac, eta = progress(snap.step, snap.total_steps, wall)
        epoch = snap.steps[-1]["epoch"] if snap.steps else 1
        left = f" · about {eta:.0f} s left" if eta is not None else ""
        bar, stop = st.columns([5, 1], vertical_alignment="bottom")
        bar.progress(frac, text=f"Training on {snap.device}, {snap.path}: epoch {epoch}/{job.cfg.epochs} · "
                                f"step {snap.step}/{snap.total_steps} · {wall:.1f} s{left}")
        if stop.button("Stop", key="train_stop", icon=":material/stop_circle:",
                       help="Ends the run after the current step; what it learned so far stays in the store."):
            job.stop()
        if job.stop_event.is_set():
            st.caption("Stopping after the current step …")
    elif snap.status == "finished":
        st.success(f"Finished on {snap.device}, {snap.path}. {stored} Open **Compare** in the sidebar to see it "
                   "next to other runs.")
    elif snap.status == "stopped":
        st.warning(f"{snap.message[:1].upper()}{snap.message[1:]}. {stored}")
    elif snap.status == "diverged":
        shown = " The loss curve below runs up to that step." if snap.steps else ""
        st.error(f"Diverged: {plain_markdown(snap.message, TEXT_CHARS)}. {stored}{shown}")
    else:
        st.error(f"The run failed: {plain_markdown(snap.message, TEXT_CHARS)}")  # may quote CSV columns


def _which_run(cfg, snap) -> str:
    """The run this view shows, named by what it is (the form above may already describe another one)."""
    opt = f"{cfg.optimizer} lr={cfg.lr:g}"
    return (f"Showing run `{snap.run_id or 'not stored'}`: {cfg.dataset}, layers {cfg.layers}, {cfg.loss}, {opt}, "
            f"batch {cfg.batch_size}, {cfg.epochs} epochs, seed {cfg.seed}.")


def _metrics(snap) -> None:
    if not snap.epochs:
        return
    last = snap.epochs[-1]
    cells = [("epochs done", f"{last['epoch']}"), ("train loss", _fmt(last.get("train_loss"))),
             ("validation loss", _fmt(last.get("val_loss")))]
    if last.get("val_accuracy") is not None:  # classification only: a regression has no accuracy to show
        cells.append(("validation accuracy", _pct(last["val_accuracy"])))
    if snap.final.get("test_accuracy") is not None:
        cells.append(("test accuracy (10 000 images)", _pct(snap.final["test_accuracy"])))
    for col, (label, value) in zip(st.columns(len(cells)), cells, strict=True):
        col.metric(label, value)


def _fmt(v) -> str:
    return "—" if v is None or v != v else f"{v:.4g}"


def _pct(v) -> str:
    return "—" if v is None or v != v else f"{v:.2%}"


def _curves(snap, cfg, classify: bool) -> None:
    left, right = st.columns(2)
    wide = P.loss_decades(snap.steps) > P.WIDE_DECADES  # e.g. a diverged run: linear, its start would read 0
    # one toggle per regime: a wide loss starts on log, a narrow one on linear; a visitor's flip sticks in each
    log_y = left.toggle("log-scale loss", value=wide, key="train_log_loss_wide" if wide else "train_log_loss",
                        help=f"On by itself when the loss spans more than {P.WIDE_DECADES} orders of magnitude "
                             "(a linear axis would draw everything below the largest loss / 1000 as 0).")
    left.plotly_chart(P.loss_figure(snap.steps, snap.epochs, log_y=log_y))
    if classify and not snap.epochs:
        right.caption("Accuracy is measured once an epoch: the chart appears after epoch 1.")
    elif classify:
        right.plotly_chart(P.accuracy_figure(snap.epochs))
    else:
        _regression_params(right, snap, cfg)


def _regression_params(col, snap, cfg) -> None:
    meta = snap.dataset.meta if snap.dataset is not None else {}
    if snap.state is None or "true_w" not in meta:
        col.caption("Learned vs true parameters appear after the first epoch (synthetic regression only).")
        return
    acts = [layer.activation for layer in cfg.layer_specs]
    rows = boundary.compare_params(snap.state, acts, meta["true_w"], meta["true_b"])
    if rows is None:
        col.info("Learned vs true w and b need an all-linear network: every activation 'identity' "
                 "(the 'no hidden layer' preset).")
        return
    col.plotly_chart(P.params_figure(rows))
    col.dataframe(pd.DataFrame(rows), hide_index=True)


def _health(snap, ended: bool) -> None:
    rows = _ended_health(snap) if ended and snap.run_id else snap.layers
    if not rows:
        return
    st.plotly_chart(P.health_figure(rows))
    flags = P.latest_flags(rows)
    for line in flags:
        st.warning(line)
    if not flags:
        st.caption("No health flags on each layer's latest stats (thresholds: see *How a run works* above).")


def _ended_health(snap) -> list[dict]:
    """A stored run's health once it has ended: a short run (≤ AUTO_FILL_STEPS) is filled in at every step by an
    exact replay, started here as a queued job (a diverged run's last steps are then drawn too); a longer one is
    shown as recorded (filling it in costs about as much as training it: Compare's replay does it on request)."""
    store = RunStore()
    try:
        if snap.step <= AUTO_FILL_STEPS:
            fill_section(store, snap.run_id)  # how the health below was recorded; the fill's progress
        else:
            st.caption("Health as recorded during the run (every k-th step); Compare's replay of this run fills "
                       "in every step.")
        stats = health_stats(store, [snap.run_id])
    except StoreError as err:
        st.caption(f"Health as recorded during the run: {plain_markdown(err, TEXT_CHARS)}")
        return snap.layers
    return stats.to_dict("records") if not stats.empty else snap.layers


# Epoch-level figures change once per epoch: cache them so the 1 s polling stays cheap.
@st.cache_data(max_entries=64, show_spinner=False)
def _histogram_fig(job_id: str, epoch: int, _rows: list):
    return P.histogram_figure(_rows, epoch)


@st.cache_data(max_entries=64, show_spinner=False)
def _boundary_fig(job_id: str, epoch: int, _snap, _cfg):
    data = _snap.dataset
    grid = boundary.boundary_grid(_snap.state, _cfg.layer_specs,
                                  boundary.grid_bounds(data.x_train), loss=_cfg.loss)
    x, y = P.first_points(data.x_train, data.y_train)
    return P.boundary_figure(grid, x, y, epoch)


def _histograms(col, job_id: str, snap, hint) -> None:
    epochs = sorted(snap.histograms)
    if not epochs:
        return
    hint.caption(HISTOGRAM_HINT)
    epoch = epochs[-1] if len(epochs) == 1 else col.select_slider("Histogram epoch", epochs, value=epochs[-1])
    col.plotly_chart(_histogram_fig(job_id, epoch, snap.histograms[epoch]))


def _boundary(col, job_id: str, snap, cfg) -> bool:
    """The decision boundary for 2-D classification sets; False where there is none to draw."""
    data = snap.dataset
    if snap.state is None or data is None or data.task != "classification" or data.input_size != 2:
        return False
    col.plotly_chart(_boundary_fig(job_id, snap.epochs[-1]["epoch"], snap, cfg))
    return True


def _test_report(snap) -> None:
    final = snap.final
    if not final.get("confusion"):
        return
    left, right = st.columns([2, 3])
    left.plotly_chart(P.confusion_figure(final["confusion"], final.get("report_split", "validation")))
    if final.get("misclassified") and snap.dataset.name == "mnist":
        images, titles = P.misclassified_digits(snap.dataset.x_test, final["misclassified"])
        right.plotly_chart(P.digits_figure(images, titles))
    elif snap.dataset.name != "mnist":
        right.caption(f"The confusion matrix counts the {final.get('report_split', 'validation')} rows "
                      "(rows the model never trained on) by true and predicted class.")


def _data_preview(col, choice, preview) -> None:
    """The uploaded table's first rows, or the synthetic set's first points."""
    if isinstance(preview, pd.DataFrame):
        col.dataframe(preview, hide_index=True)
    elif preview is not None:
        col.plotly_chart(P.data_figure(*preview, choice.task, "The data (first points)"))


def _live(job_id: str) -> None:
    job = JOBS.get(job_id)
    if job is None:  # the server restarted: the run (if stored) is in Compare
        st.session_state.pop(JOB_KEY, None)
        return
    every = None if job.done else POLL_SECONDS

    @st.fragment(run_every=every)
    def panel() -> None:
        snap = job.snapshot()
        if every is not None and snap.status in ENDED:
            st.rerun()  # a full rerun redraws this panel without run_every: polling stops
        _status(job, snap)
        st.caption(_which_run(job.cfg, snap))
        _metrics(snap)
        if not (snap.steps or snap.epochs):
            return
        classify = snap.dataset is not None and snap.dataset.task == "classification"
        _curves(snap, job.cfg, classify)
        _health(snap, ended=snap.status in END_KINDS)  # finished, diverged, stopped: stored whole
        left, right = st.columns(2)
        if _boundary(left, job_id, snap, job.cfg):
            _histograms(right, job_id, snap, hint=right)
        else:  # no boundary: histograms on the left, how to read them on the right
            _histograms(left, job_id, snap, hint=right)
        _test_report(snap)
        with st.expander("Per-epoch numbers"):
            st.dataframe(pd.DataFrame(snap.epochs).reindex(columns=EPOCH_COLUMNS), hide_index=True)

    panel()


def _replay(job_id: str) -> None:
    """Once the run has ended (finished, stopped or diverged) and is stored: step through it."""
    job = JOBS.get(job_id)
    snap = job.snapshot() if job is not None else None
    if snap is None or snap.status not in ("finished", "stopped", "diverged") or not snap.run_id:
        return
    st.subheader("4 · Replay it step by step")
    replay_player(RunStore(), snap.run_id)


st.title("Train")
st.caption("Pick a dataset and a network, start a run, and watch it learn: loss and accuracy, each layer's "
           "gradient health, and what the model has learned — live, epoch by epoch.")
with st.expander("How a run works"):
    st.markdown(HOW_IT_RUNS)

data_col, preview_col = st.columns([1, 1])
with data_col:
    st.subheader("1 · Data")
    F.preset_buttons()
    choice, preview = F.dataset_section(int(st.session_state.get("seed", 0)))

st.subheader("2 · Network, optimizer, schedule")
F.preset_picker(choice)
cfg = F.training_form(choice)
# The preview fills its column (beside the data widgets) only now, so it is sent after the form: the browser
# paints "Start training" first and the chart (800 SVG points, ~0.2 s to draw) right after (bench row 10).
_data_preview(preview_col, choice, preview)
current = JOBS.get(st.session_state.get(JOB_KEY, ""))
if cfg is not None and current is not None and not current.done:
    st.warning("A run is still going: press **Stop** below (or wait for it) before starting another.")
elif cfg is not None:
    _start(cfg)

if st.session_state.get(JOB_KEY):
    st.subheader("3 · Live view")
    _live(st.session_state[JOB_KEY])
    _replay(st.session_state[JOB_KEY])
