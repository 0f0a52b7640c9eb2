"""The Inspector's Diagram, Forward and Backward views: a Trace in, Streamlit elements out."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from engine.core.numerical import numerical_perturbations, numerical_skip_reason, numerical_work
from engine.inspector.autograd_graph import autograd_dot
from engine.inspector.equations import gradient_differences, numerical_tolerance
from engine.inspector.spec import NetworkSpec
from engine.inspector.trace import MANUAL_TOL, NUMERICAL_TOL, GradComparison, LayerTrace, Trace, trace
from ui.kept import remember, remembered
from ui.matrix import as_rows, clip, heatmap_figure, show_values
from ui.network_diagram import network_figure
from ui.stepper import ON, render_stepper, stepper_requested, stop_stepping
from ui.trace_cache import BoundedCache

GRADS = {"weight": "∂L/∂W", "bias": "∂L/∂b", "z": "δ = ∂L/∂z", "a": "∂L/∂a"}  # the four shown per layer
PRECISION = ("Manual and autograd do the same arithmetic in a different order, so they differ only by rounding: "
             "about 1e-16 relative in **float64** (≈16 significant digits) and 1e-7 in **float32** (≈7 digits). "
             "Finite differences are always done in float64 and carry an error of about 1e-10.")


TRACES = BoundedCache()  # server-wide, bounded by the traces' tensor bytes (engine.inspector.budget bounds each one)


PROGRESS_WORK = 100_000_000  # finite differences with more numerical_work (~0.1 s) show a progress bar


def cached_trace(spec_json: str) -> Trace:
    """One forward and backward pass, keyed on the spec's JSON so reruns (and other sessions) reuse it."""
    return TRACES.get(spec_json, lambda: _trace_with_progress(NetworkSpec.from_json(spec_json)))


def _trace_with_progress(spec: NetworkSpec) -> Trace:
    """trace(spec), with a progress bar while long finite differences run (the MNIST network's take ~1 s)."""
    types = [layer.type for layer in spec.layers]
    if numerical_skip_reason(spec.sizes, spec.n_rows, types) or numerical_work(spec.sizes, spec.n_rows,
                                                                               types) < PROGRESS_WORK:
        return trace(spec)
    rows = numerical_perturbations(spec.sizes, spec.n_rows)
    bar = st.progress(0.0, text=f"Finite differences: up to {rows:,} perturbed copies of a row …")
    shown = [0.0]

    def report(done: float) -> None:
        if done - shown[0] >= 0.02 or done == 1.0:  # ≤ 50 updates: each is a message to the browser
            shown[0] = done
            bar.progress(done, text=f"Finite differences: {done:.0%} of up to {rows:,} perturbed copies of a row")

    try:
        return trace(spec, progress=report)
    finally:
        bar.empty()


@st.cache_data(max_entries=16, show_spinner=False)
def cached_dot(spec_json: str) -> str:
    return autograd_dot(NetworkSpec.from_json(spec_json))


def keep_in_range(key: str, low: int, high: int) -> None:
    """Clamp a remembered widget value before the widget is drawn (its bounds follow the network)."""
    if key in st.session_state and not low <= st.session_state[key] <= high:
        st.session_state[key] = min(max(st.session_state[key], low), high)


def keep_in_options(key: str, options: list) -> None:
    if key in st.session_state and st.session_state[key] not in options:
        del st.session_state[key]


def pick_entry(prefix: str, label: str, layers: dict[str, LayerTrace], shape_of, rows: tuple[str, str],
               cols: tuple[str, str]) -> tuple[LayerTrace, int, int]:
    """One entry [i, j] of a layer's matrix, picked in three columns: the layer (keyed by its name in `layers`),
    then the row and the column, each a (key suffix, label) pair; shape_of(layer) is the matrix's (rows, cols).
    Remembered picks (keys {prefix}_layer, {prefix}_{suffix}) are kept within the network on screen."""
    names = list(layers)
    keep_in_options(f"{prefix}_layer", names)
    c = st.columns(3)
    lt = layers[c[0].selectbox(label, names, key=f"{prefix}_layer")]
    picked = []
    for column, (suffix, text), size in zip(c[1:], (rows, cols), shape_of(lt), strict=True):
        keep_in_range(f"{prefix}_{suffix}", 0, size - 1)
        picked.append(int(column.number_input(text, 0, size - 1, step=1, key=f"{prefix}_{suffix}")))
    return lt, picked[0], picked[1]


def badge(ok: bool) -> str:
    return ":green-badge[✓ pass]" if ok else ":red-badge[✗ fail]"


def render_diagram(t: Trace) -> None:
    c1, c2 = st.columns([1, 2])
    remembered("insp_sample")
    keep_in_range("insp_sample", 0, t.x.shape[0] - 1)
    sample = c1.number_input("Sample (row of x)", 0, t.x.shape[0] - 1, step=1, key="insp_sample")
    if ON not in st.session_state and f"kept_{ON}" not in st.session_state:
        st.session_state[ON] = stepper_requested()  # on when the link names a step
    stepping = st.toggle("Step through the computation", key=remembered(ON),
                         help="forward, loss and backward one quantity at a time, with its equation and numbers")
    remember("insp_sample")
    remember(ON)
    if stepping:
        render_stepper(t, int(sample))
        return
    stop_stepping()
    mode = c2.radio("Edges show", ["weights W", "gradients ∂L/∂W"], horizontal=True,
                    key=remembered("insp_edge_mode"))
    remember("insp_edge_mode")
    fig, notes = network_figure(t, int(sample), "gradient" if mode.startswith("gradients") else "weight")
    st.plotly_chart(fig, key="insp_network", width="stretch")
    st.caption(f"Neuron colour: its activation a for sample {int(sample)} (input neurons: x). Edge colour: "
               f"{'∂L/∂W (summed over the batch)' if mode.startswith('gradients') else 'W'} — blue positive, "
               "red negative, thicker = larger |value|; each colour bar is shared by all layers, so equal values "
               "have equal colours. Hover a neuron or an edge's middle for the numbers.")
    for note in notes:
        st.caption("Note: " + note)


def render_forward(t: Trace) -> None:
    st.caption("Batches are rows: row r of every table is sample r. Layer l computes z_l = a_{l-1} W_lᵀ + b_l, "
               "then a_l = φ_l(z_l).")
    c1, c2 = st.columns(2)
    with c1:
        show_values(t.x, "input x = a₀", key="insp_fw_x")
    with c2:
        show_values(t.y if t.y.dim() == 2 else t.y.unsqueeze(1), "target y" + (
            " (class index)" if t.y.dim() == 1 else ""), key="insp_fw_y")
    if any(lt.layer.type == "batchnorm" for lt in t.all_layers):
        st.caption("BatchNorm is shown in training mode: the batch's own mean and biased variance (nn.BatchNorm1d "
                   "in model.train()); evaluation would use the running statistics instead.")
    for lt in t.all_layers:
        st.markdown(f"#### Layer {lt.index} — {lt.layer.describe()}")
        label = {"weight": "W", "bias": "b"} if lt.layer.type == "linear" else {"weight": "γ", "bias": "β"}
        shown = [(f"{label.get(n, n)}{lt.index}", v) for n, v in lt.params.items()]
        shown += [(f"{n}{lt.index}", v) for n, v in lt.values.items()]  # mean, var, x_hat; a dropout mask
        shown += [(f"z{lt.index}", lt.z), (f"a{lt.index}", lt.a)]
        for start in range(0, len(shown), 4):
            cols = st.columns(4)
            for col, (name, values) in zip(cols, shown[start:start + 4], strict=False):
                with col:
                    show_values(values if values.dim() else values.reshape(1), name, key=f"insp_fw_{name}")
    st.metric(f"Loss ({t.spec.loss}, mean reduction)", f"{t.loss:.6g}",
              help=f"autograd's loss: {t.loss_autograd:.10g}")


def _summary(t: Trace) -> pd.DataFrame:
    rows = []
    for lt in t.all_layers:
        for name, label in GRADS.items():
            if name not in lt.grads:  # dropout and residual blocks have no parameters of their own
                continue
            g = lt.grads[name]
            rows.append({"layer": lt.index, "gradient": label, "shape": "×".join(map(str, g.manual.shape)),
                         "max |manual − autograd|": g.max_abs_error, "relative": g.max_rel_error,
                         "manual tolerance": g.tolerance, "max |numerical − autograd|": g.numerical_max_abs_error,
                         "numerical tolerance": None if g.numerical is None else numerical_tolerance(
                             g, t.spec.dtype, t.loss), "result": "✓ pass" if g.agree else "✗ fail"})
    return pd.DataFrame(rows)


def _columns(g: GradComparison, label: str, key: str) -> None:
    cols = st.columns(3)
    for col, (title, values) in zip(cols, [("manual (chain rule)", g.manual), ("autograd (PyTorch)", g.autograd),
                                           ("numerical (finite diff.)", g.numerical)], strict=True):
        with col:
            if values is None:
                st.caption(f"{title}: skipped (see the note above)")
            else:
                show_values(values, f"{title}", key=f"{key}_{title.split()[0]}")


KINKED = ("relu", "leaky_relu")  # activations with a kink at 0, where finite differences can straddle it


def _differences(g: GradComparison, key: str, kinks: bool) -> None:
    """|Δ| heatmaps; a single number is written out (a one-cell heatmap says nothing), and the title speaks
    of ReLU kinks only when the network has a kinked activation."""
    manual, numerical = gradient_differences(g)
    if manual.numel() == 1:
        parts = [f"|manual − autograd| = {manual.item():.2e}"]
        if numerical is not None:
            parts.append(f"|numerical − autograd| = {numerical.item():.2e}")
        st.caption(" · ".join(parts))
        return
    cols = st.columns(2)
    same_bits = manual.max().item() == 0  # the common float64 case: nothing to draw
    (manual, note), numerical = clip(manual), None if numerical is None else clip(numerical)[0]
    if note and not same_bits:
        st.caption(f"Differences: {note}.")
    if same_bits:
        cols[0].caption("|manual − autograd| is exactly 0 for every element: the same bits.")
    else:
        cols[0].plotly_chart(heatmap_figure(as_rows(manual), "|manual − autograd|", "Greys", diverging=False,
                                            text=manual.numel() <= 64, height=170), key=f"{key}_dm",
                             width="stretch")
    if numerical is not None:
        any_left_out = g.kink is not None and bool(g.kink.any())
        left_out = " (blank = ReLU kink)" if kinks else " (blank = left out)" if any_left_out else ""
        cols[1].plotly_chart(heatmap_figure(as_rows(numerical), "|numerical − autograd|" + left_out, "Greys",
                                            diverging=False, text=numerical.numel() <= 64, height=170),
                             key=f"{key}_dn", width="stretch")


def _kinks(g: GradComparison) -> str | None:
    """Why elements were left out of the numerical check (the engine says which reason applies)."""
    return g.left_out_note


def _gradient_block(t: Trace, lt: LayerTrace, name: str) -> None:
    g, dtype = lt.grads[name], t.spec.dtype
    st.markdown(f"##### {GRADS[name]}{lt.index}  {badge(g.agree)}")
    _columns(g, GRADS[name], f"insp_bw_{lt.index}_{name}")
    m = st.columns(4)
    m[0].metric("max |manual − autograd|", f"{g.max_abs_error:.2e}", help="relative to max |autograd|: "
                f"{g.max_rel_error:.2e}")
    m[1].metric("manual tolerance", f"{g.tolerance:.1e}", help=f"{MANUAL_TOL[dtype]:g} · max(1, max|g|)")
    m[2].metric("max |numerical − autograd|",
                "skipped" if g.numerical_max_abs_error is None else f"{g.numerical_max_abs_error:.2e}",
                help="over the elements not left out (kinks, the edge of bce's domain)")
    if g.numerical is not None:
        m[3].metric("numerical tolerance", f"{numerical_tolerance(g, dtype, t.loss):.1e}",
                    help=f"{NUMERICAL_TOL[dtype]:g} · max(1, max|g|) + the rounding of L over h (at most 1 % of "
                         "max|g|): finite differences are less exact")
    _differences(g, f"insp_bw_{lt.index}_{name}", any(a.activation in KINKED for a in t.spec.layers))
    note = _kinks(g)
    if note:
        st.warning(note)


def render_backward(t: Trace) -> None:
    st.markdown(f"**All gradients agree** {badge(True)}" if t.agree else f"**Some gradients disagree** {badge(False)}")
    st.caption(PRECISION)
    if t.numerical_note:  # "finite differences skipped: <why>; <what to change>"
        st.info(t.numerical_note[:1].upper() + t.numerical_note[1:])
    st.dataframe(_summary(t), hide_index=True, width="stretch",
                 column_config={c: st.column_config.NumberColumn(format="%.2e") for c in
                                ("max |manual − autograd|", "relative", "manual tolerance",
                                 "max |numerical − autograd|", "numerical tolerance")})
    # a linear layer is named by its activation, as before kinds existed; the other kinds by their description
    names = [f"layer {lt.index} ({lt.activation if lt.layer.type == 'linear' else lt.layer.describe()})"
             for lt in t.all_layers]
    keep_in_options("insp_bw_layer", names)
    pick = st.selectbox("Layer to look at", names, index=len(names) - 1, key="insp_bw_layer",
                        help="the backward pass starts at the output layer, so that is shown first")
    lt = t.all_layers[names.index(pick)]
    for name in GRADS:
        if name in lt.grads:
            _gradient_block(t, lt, name)
