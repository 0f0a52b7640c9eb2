"""The Inspector's network builder: presets, the form, the x/y table, and the session state behind them.

The current network lives in st.session_state[SPEC] as a spec dict (explicit weights, x and y included
where they are fixed). Every builder widget has a key; load_spec() writes a spec into those keys, so a
preset, a link, an upload or a kept optimizer step all show up in the form the same way.
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

from engine.core.layers import KINDS
from engine.core.ops import ACTIVATIONS, LOSSES
from engine.inspector.budget import table_problem
from engine.inspector.materialize import materialize
from engine.inspector.presets import PRESETS, preset
from engine.inspector.share import LINK_FRIENDLY_CHARS, decode_spec
from engine.inspector.spec import DTYPES, INITS, MAX_BATCH, MAX_LAYERS, NetworkSpec, SpecError
from ui.number_table import as_text_frame, parse_table
from ui.text import NAME_CHARS, clip

SPEC = "insp_spec"
REJECTED = "_insp_rejected"  # this run's out-of-range inputs, by label
DEFAULT_PRESET = "two-layer"
UI_MAX_UNITS = 64  # widget cap; uploads and links may go up to the engine's MAX_UNITS
UI_MAX_BATCH = 64
# The app itself never writes a longer ?spec= (bigger networks are shared as files), so a longer link is
# refused before it is decoded: 19.5 KB of link once unpacked to a 15 MB name.
MAX_LINK_CHARS = LINK_FRIENDLY_CHARS
SEEDED, TABLE = "drawn from the seed", "typed in a table"
PRESET_HELP = {
    "line": "ŷ = w·x + b with w = b = 1, x = 2, y = 10: the gradients are −28 and −14 by hand",
    "two-layer": "3 → 2 (ReLU) → 1, a batch of 4 drawn from seed 0",
    "linear-chain": "2 → 3 → 5 → 1, all linear, L = Σ output: the upstream gradient is 1",
    "single-step": "one Linear(4, 2) layer on one sample, MSE against [1, 0]",
    "batchnorm": "Linear → BatchNorm → tanh → Linear on a batch of 8 (makemore style): the gradient through μ and σ²",
    "residual": "two residual blocks relu(x + f(x)): the skip connection adds its own path to the gradient",
    "dropout": "inverted dropout p = 0.5: the mask drawn from the seed, dropped units pass no gradient",
}


def _table_frame(spec: NetworkSpec) -> pd.DataFrame:
    """x and y of a valid spec as one editable table: columns x0…, then y0… (or class)."""
    m = materialize(spec)
    df = pd.DataFrame(m.x.tolist(), columns=[f"x{j}" for j in range(spec.input_size)])
    if LOSSES[spec.loss].class_targets:
        df["class"] = m.y.tolist()
    else:
        for j, col in enumerate(zip(*m.y.tolist(), strict=True)):
            df[f"y{j}"] = list(col)
    return as_text_frame(df)  # text cells: the browser's number cells turned "1e308" into 1308


def _table_sig(spec: NetworkSpec) -> tuple:
    return spec.input_size, spec.output_size, LOSSES[spec.loss].class_targets


def _widget_values(d: dict) -> dict:
    """Builder widget key → the value that shows spec dict d."""
    values = {"insp_input_size": d["input_size"], "insp_n_layers": len(d["layers"]), "insp_loss": d["loss"],
              "insp_init": d["init"], "insp_seed": d["seed"], "insp_dtype": d["dtype"],
              "insp_batch": len(d["x"]) if d.get("x") is not None else d["batch"],
              "insp_data_mode": TABLE if d.get("x") is not None else SEEDED}
    for i, layer in enumerate(d["layers"], start=1):
        values[f"insp_kind_{i}"] = layer.get("type", "linear")
        values[f"insp_act_{i}"] = layer["activation"]
        if "units" in layer:
            values[f"insp_units_{i}"] = layer["units"]
        if "p" in layer:
            values[f"insp_p_{i}"] = layer["p"]
    return values


def load_spec(spec: NetworkSpec) -> None:
    """Make `spec` the current network and set every builder widget to show it (callbacks, or before widgets)."""
    ss = st.session_state
    ss[SPEC] = spec.to_dict()
    if ss[SPEC].get("name"):
        ss[SPEC]["name"] = clip(ss[SPEC]["name"], NAME_CHARS)  # a name is a label: links and files cannot grow it
    ss.update(_widget_values(ss[SPEC]))
    fits = table_problem(spec.n_rows, spec.input_size + spec.output_size) is None  # built when first shown otherwise
    ss["insp_table"] = {"sig": _table_sig(spec), "df": _table_frame(spec) if fits else None,
                        "version": ss.get("insp_table", {}).get("version", 0) + 1}
    ss.pop("insp_step", None)  # an optimizer result belongs to the network it was computed on


def init_state(code: str | None) -> str | None:
    """On the session's first run: load the linked spec (or the default preset). Returns an error to show."""
    ss = st.session_state
    side_seed = ss.get("seed", 0)
    if SPEC in ss:
        if ss.get("insp_side_seed", side_seed) != side_seed:  # the sidebar seed moved: follow it
            ss["insp_seed"] = ss[SPEC]["seed"] = side_seed  # the widget, and the network while the builder is closed
        ss["insp_side_seed"] = side_seed
        return None
    ss["insp_side_seed"] = side_seed
    error = None
    if code and len(code) > MAX_LINK_CHARS:
        error = (f"The link's network could not be loaded — the link has {len(code):,} characters (limit "
                 f"{MAX_LINK_CHARS:,}); share bigger networks as a JSON file")
    elif code:
        try:
            load_spec(decode_spec(code))
            return None
        except SpecError as err:
            error = "The link's network could not be loaded — " + "; ".join(err.problems)
    load_spec(preset(DEFAULT_PRESET))
    return error


def render_presets() -> None:
    st.caption("Worked examples — one click loads the network, its weights and its data:")
    cols = st.columns(len(PRESETS))
    for col, name in zip(cols, PRESETS, strict=True):
        col.button(name, key=f"insp_preset_{name}", help=PRESET_HELP.get(name), width="stretch",
                   on_click=lambda n=name: load_spec(preset(n)))


def _bounded_int(label: str, key: str, low: int, cap: int, help: str | None = None) -> int:
    """A whole-number input whose maximum grows to fit a value that came from a link or file. Unbounded in the
    browser: a bounded one turns a bad value red and keeps sending the old one, so the page silently drew the
    previous network. Out of range, it is named in session state's REJECTED and the clamped value returned."""
    # the cap grows to the current network's value (a link or file may hold more), never to what was typed
    cap = max(cap, int(_widget_values(st.session_state[SPEC]).get(key, low)))
    value = int(st.number_input(label, min_value=None, max_value=None, step=1, key=key,
                                help=f"{low}–{cap}" + (f"; {help}" if help else "")))
    if not low <= value <= cap:
        st.session_state.setdefault(REJECTED, []).append(f"{label} = {value} was rejected: use {low}–{cap}")
    return min(max(value, low), cap)


def _layer_widgets(n_layers: int) -> list[dict]:
    """One box per layer: its kind (linear, batchnorm, layernorm, dropout, residual block), units (linear),
    p (dropout) and activation. A residual block keeps its inner layers from the current network (a new block
    wraps two linear layers back to its width)."""
    ss, acts, layers = st.session_state, list(ACTIVATIONS), []
    for start in range(1, n_layers + 1, 4):
        cols = st.columns(4)
        for i, col in zip(range(start, min(n_layers, start + 3) + 1), cols, strict=False):
            ss.setdefault(f"insp_units_{i}", 4)
            ss.setdefault(f"insp_act_{i}", "relu")
            ss.setdefault(f"insp_kind_{i}", "linear")
            with col.container(border=True):
                kind = st.selectbox(f"Layer {i} kind", list(KINDS), key=f"insp_kind_{i}",
                                    help="batchnorm/layernorm/dropout/residual keep their input's width")
                layer = {"type": kind}
                if kind == "linear":
                    layer["units"] = _bounded_int(f"Layer {i} units", f"insp_units_{i}", 1, UI_MAX_UNITS)
                elif kind == "dropout":
                    ss.setdefault(f"insp_p_{i}", 0.5)
                    layer["p"] = float(st.number_input(f"Layer {i} p (drop)", 0.0, 0.95, step=0.05, key=f"insp_p_{i}"))
                elif kind == "residual":
                    layer["layers"] = _inner_layers(i)
                    st.caption(f"x + f(x), f = {len(layer['layers'])} inner layers")
                layer["activation"] = st.selectbox(f"Layer {i} activation", acts, key=f"insp_act_{i}")
            layers.append(layer)
    return layers


def _inner_layers(i: int) -> list[dict]:
    """The inner layers of the current network's block at position i, or a fresh 2-layer one (its width is
    filled in by _fit_blocks once the widths are known)."""
    old = st.session_state[SPEC]["layers"]
    if i <= len(old) and old[i - 1].get("type") == "residual":
        return old[i - 1]["layers"]
    return [{"units": 0, "activation": "relu"}, {"units": 0, "activation": "identity"}]


def _fit_blocks(layers: list[dict], input_size: int) -> None:
    """A fresh block's two inner linear layers take the block's width."""
    width = input_size
    for layer in layers:
        if layer.get("type") == "residual":
            for inner in layer["layers"]:
                if inner.get("units") == 0:
                    inner["units"] = width
        width = layer["units"] if layer.get("type", "linear") == "linear" else width


def _widths(d_layers: list[dict], input_size: int) -> list[tuple]:
    """(kind, fan-in, width) per layer: what must match to carry fixed numbers over."""
    out, width = [], input_size
    for layer in d_layers:
        kind = layer.get("type", "linear")
        new = layer.get("units") if kind == "linear" else width
        out.append((kind, width, new))
        width = new
    return out


def _keep_explicit(layers: list[dict], input_size: int) -> list[str]:
    """Carry fixed parameters (W, b, γ, β, a dropout mask) over from the current spec where the layer's kind
    and shape are unchanged."""
    old, kept = st.session_state[SPEC], []
    old_shapes, shapes = _widths(old["layers"], old["input_size"]), _widths(layers, input_size)
    for i, layer in enumerate(layers, start=1):
        if i <= len(old_shapes) and old_shapes[i - 1] == shapes[i - 1]:
            for k in ("weight", "bias", "mask", "eps"):
                if k in old["layers"][i - 1]:
                    layer[k] = old["layers"][i - 1][k]
                    kept.append(str(i))
    return sorted(set(kept))


def _drop_explicit() -> None:
    spec = st.session_state[SPEC]
    for layer in spec["layers"]:
        for key in ("weight", "bias", "mask"):
            layer.pop(key, None)


def _general_widgets() -> dict:
    c = st.columns(4)
    with c[0]:
        input_size = _bounded_int("Input size n₀", "insp_input_size", 1, UI_MAX_UNITS, "columns of x")
    with c[1]:
        n_layers = _bounded_int("Layers", "insp_n_layers", 1, MAX_LAYERS,
                                "add or remove layers; the last one is the output")
    with c[2]:
        loss = st.selectbox("Loss (mean over the batch)", list(LOSSES), key="insp_loss")
    with c[3]:
        init = st.selectbox("Init", list(INITS), key="insp_init", help="how weights not fixed are drawn")
    c = st.columns(4)
    with c[0]:
        seed = _bounded_int("Seed", "insp_seed", 0, 2**31 - 1, "draws W, b, x, y that are not fixed; "
                            "follows the sidebar seed when that changes")
    with c[1]:
        dtype = st.selectbox("dtype", list(DTYPES), key="insp_dtype",
                             help="float64 by default; float32 shows rounding differences of ~1e-7")
    with c[2]:
        mode = st.radio("Input batch x and target y", [SEEDED, TABLE], key="insp_data_mode")
    with c[3]:
        batch = _bounded_int("Batch B (rows of x)", "insp_batch", 1, UI_MAX_BATCH) if mode == SEEDED else None
    return {"input_size": input_size, "n_layers": n_layers, "loss": loss, "init": init, "seed": seed,
            "dtype": dtype, "mode": mode, "batch": batch}


def _table_data(spec: NetworkSpec) -> tuple[list | None, list | None, list[str]]:
    """The x/y table editor: (x, y, problems). The table is rebuilt when its columns must change."""
    ss = st.session_state
    columns = spec.input_size + (1 if LOSSES[spec.loss].class_targets else spec.output_size)
    too_big = table_problem(spec.n_rows if spec.x is not None else int(spec.batch), columns)
    if too_big:
        return None, None, [too_big]
    table = ss.get("insp_table") or {"version": 0}
    if table.get("df") is None or table.get("sig") != _table_sig(spec):
        rows = len(table["df"]) if table.get("df") is not None else spec.batch
        seeded = NetworkSpec.from_dict({**spec.to_dict(), "batch": min(max(rows, 1), MAX_BATCH)})
        table = ss["insp_table"] = {"sig": _table_sig(spec), "df": _table_frame(seeded),
                                    "version": table["version"] + 1}
    st.caption("Edit any cell; add or delete rows at the table's edge (one row = one sample)."
               + (" The class column holds class indices 0…k−1." if LOSSES[spec.loss].class_targets else ""))
    df = st.data_editor(table["df"], key=f"insp_table_{table['version']}", num_rows="dynamic", width="content")
    if len(df) == 0:
        return None, None, ["the table has no rows: add at least one sample"]
    if len(df) > MAX_BATCH:
        return None, None, [f"the table has {len(df)} rows; use at most {MAX_BATCH}"]
    if df.isna().to_numpy().any() or (df.astype(str).apply(lambda c: c.str.strip()) == "").to_numpy().any():
        return None, None, ["some table cells are empty: fill every cell with a number"]
    x_cols = [f"x{j}" for j in range(spec.input_size)]
    y_cols = ["class"] if "class" in df else [c for c in df.columns if c.startswith("y")]
    return parse_table(df, x_cols, y_cols, class_targets="class" in df)


def closed_builder_spec() -> NetworkSpec:
    """The network while the builder is closed: SPEC itself (the builder's widgets are not drawn, so Streamlit
    forgets them; render_builder puts them back from SPEC when it opens). A table of x and y is rebuilt from SPEC
    once, so cells edited before closing still show when it opens again (the editor's own edits are forgotten)."""
    ss = st.session_state
    d = ss[SPEC]
    spec = NetworkSpec.from_dict({**d, "batch": len(d["x"])} if d.get("x") is not None else d)  # as the form does
    table = ss.get("insp_table") or {"version": 0}
    fits = table_problem(spec.n_rows, spec.input_size + spec.output_size) is None
    if spec.x is not None and fits and table.get("from") != (spec_json := spec.to_json()):
        ss["insp_table"] = {"sig": _table_sig(spec), "df": _table_frame(spec), "version": table["version"] + 1,
                            "from": spec_json}
    return spec


def _same(a: NetworkSpec, b: NetworkSpec) -> bool:
    """Equal networks; batch only counts when x is drawn from the seed (a table's rows set it otherwise)."""
    da, db = a.to_dict(), b.to_dict()
    da.pop("name", None)
    db.pop("name", None)
    if da.get("x") is not None:
        da.pop("batch", None)
        db.pop("batch", None)
    return da == db


def render_builder() -> tuple[NetworkSpec | None, list[str]]:
    """The form; returns (the spec it describes, []) or (None, problems saying what to change)."""
    for key, value in _widget_values(st.session_state[SPEC]).items():  # widgets forgotten on another page
        st.session_state.setdefault(key, value)
    st.session_state[REJECTED] = []
    g = _general_widgets()
    layers = _layer_widgets(g["n_layers"])
    if st.session_state[REJECTED]:  # no network at all rather than the previous one drawn under a red box
        return None, st.session_state[REJECTED] + ["nothing below is drawn until the value is in range"]
    _fit_blocks(layers, g["input_size"])
    kept = _keep_explicit(layers, g["input_size"])
    if kept:
        c1, c2 = st.columns([3, 1])
        c1.caption(f"Layer {', '.join(kept)}: W and b are fixed numbers (from a preset, link, file or kept step), "
                   "not drawn from the seed.")
        c2.button("Draw them from the seed", on_click=_drop_explicit, key="insp_drop_explicit")
    d = {"input_size": g["input_size"], "layers": layers, "loss": g["loss"], "init": g["init"], "seed": g["seed"],
         "dtype": g["dtype"], "batch": g["batch"] or st.session_state.get("insp_batch", 4)}
    try:
        spec = NetworkSpec.from_dict(d)
    except SpecError as err:
        return None, err.problems
    if g["mode"] == TABLE:
        x, y, problems = _table_data(spec)
        if problems:
            return None, problems
        try:
            spec = NetworkSpec.from_dict({**d, "x": x, "y": y, "batch": len(x)})
        except SpecError as err:
            return None, err.problems
    old = st.session_state[SPEC]
    if old.get("name") and _same(NetworkSpec.from_dict(old), spec):  # unchanged preset: keep its name
        spec.name = old["name"]
    st.session_state[SPEC] = spec.to_dict()
    return spec, []
