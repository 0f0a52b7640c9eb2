"""Show a tensor: a table of numbers when it is small, a heatmap when it is big."""
from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from ui.axes import honest_axes

TABLE_MAX_ROWS = 16  # beyond this many rows …
TABLE_MAX_COLS = 10  # … or columns, a heatmap reads better than digits
SHOWN_MAX = 64  # rows and columns a heatmap draws at most: 4096 × 480 cells took minutes to render


def clip(values) -> tuple[object, str | None]:
    """(the top-left SHOWN_MAX × SHOWN_MAX corner of a tensor (a vector: its first SHOWN_MAX), a note saying
    what was left out or None). Sliced before .tolist(), so a huge tensor is never turned into Python floats."""
    if not hasattr(values, "shape") or values.dim() == 0:
        return values, None
    if values.dim() == 1:
        n = values.shape[0]
        return (values[:SHOWN_MAX], None) if n <= SHOWN_MAX else \
            (values[:SHOWN_MAX], f"showing elements 0–{SHOWN_MAX - 1} of {n:,}")
    rows, cols = values.shape[0], values.shape[1]
    cut = [f"rows 0–{SHOWN_MAX - 1} of {rows:,}"] * (rows > SHOWN_MAX) + \
        [f"columns 0–{SHOWN_MAX - 1} of {cols:,}"] * (cols > SHOWN_MAX)
    return values[:SHOWN_MAX, :SHOWN_MAX], ("showing " + " and ".join(cut)) if cut else None


def as_rows(values) -> list[list[float]]:
    """A 0-, 1- or 2-D tensor (or nested list) as a list of rows; a vector becomes one row."""
    data = values.tolist() if hasattr(values, "tolist") else values
    if not isinstance(data, list):
        return [[data]]
    if not data or not isinstance(data[0], list):
        return [data]
    return data


def frame(values, row_name: str = "row", col_name: str = "col") -> pd.DataFrame:
    """Rows and columns labelled from 0, as torch indexes them."""
    rows = as_rows(values)
    return pd.DataFrame(rows, index=pd.Index(range(len(rows)), name=row_name),
                        columns=[f"{col_name} {j}" for j in range(len(rows[0]) if rows else 0)])


def is_small(values) -> bool:
    rows = as_rows(values)
    return len(rows) <= TABLE_MAX_ROWS and (len(rows[0]) if rows else 0) <= TABLE_MAX_COLS


@honest_axes
def heatmap_figure(values, title: str = "", colorscale: str = "RdBu", diverging: bool = True,
                   text: bool = False, height: int | None = None) -> go.Figure:
    """A heatmap with row 0 on top; diverging scales are centred on 0 so the sign reads as colour."""
    rows = as_rows(values)
    finite = [abs(v) for r in rows for v in r if v is not None and isinstance(v, float | int) and math.isfinite(v)]
    top = max(finite, default=0.0) or 1.0
    hm = go.Heatmap(z=rows, colorscale=colorscale, zmid=0 if diverging else None,
                    zmin=-top if diverging else 0, zmax=top,
                    hovertemplate="row %{y}, col %{x}: %{z:.6g}<extra></extra>",
                    texttemplate="%{z:.2g}" if text else None, reversescale=diverging)
    fig = go.Figure(hm)
    fig.update_yaxes(autorange="reversed", title="row", dtick=1)
    fig.update_xaxes(title="col", dtick=1)
    n = len(rows)
    fig.update_layout(title=title, margin=dict(l=10, r=10, t=30 if title else 10, b=10),
                      height=height or min(420, 90 + 22 * max(n, 3)))
    return fig


def show_values(values, label: str = "", key: str | None = None, row_name: str = "row",
                col_name: str = "col") -> None:
    """Digits for a small tensor, a heatmap for a big one (with its shape in the caption; at most
    SHOWN_MAX rows and columns drawn, the caption says so)."""
    dims = tuple(values.shape) if hasattr(values, "shape") else (len(as_rows(values)), len(as_rows(values)[0]))
    values, note = clip(values)
    rows = as_rows(values)
    shape = "×".join(map(str, dims)) if len(dims) > 1 else f"({dims[0]},)" if dims else "scalar"
    if label or note:
        st.caption(f"{label} — shape {shape}" + (f" ({note})" if note else ""))
    if is_small(values):
        st.dataframe(frame(rows, row_name, col_name), width="content")
    else:
        st.plotly_chart(heatmap_figure(rows), key=key, width="stretch")
