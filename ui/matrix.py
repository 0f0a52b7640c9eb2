"""Show a tensor: a table of numbers when it is small, a heatmap when it is big."""
from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

TABLE_MAX_ROWS = 16  # beyond this many rows …
TABLE_MAX_COLS = 10  # … or columns, a heatmap reads better than digits


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
    """Digits for a small tensor, a heatmap for a big one (with its shape in the caption)."""
    rows = as_rows(values)
    dims = tuple(values.shape) if hasattr(values, "shape") else (len(rows), len(rows[0]) if rows else 0)
    shape = "×".join(map(str, dims)) if len(dims) > 1 else f"({dims[0]},)" if dims else "scalar"
    if label:
        st.caption(f"{label} — shape {shape}")
    if is_small(values):
        st.dataframe(frame(rows, row_name, col_name), width="content")
    else:
        st.plotly_chart(heatmap_figure(rows), key=key, width="stretch")
