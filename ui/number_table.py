"""The Inspector's x/y table as text cells that Python parses.

Streamlit's number cells parse in the browser and drop what they do not expect: "1e308" became 1308 with
no word. Text cells keep what was typed; `parse_table` turns each into a float (exponents, signs and
spaces as Python reads them) or names the cell that is not a finite number.
"""
from __future__ import annotations

import math

import pandas as pd

MAX_PROBLEMS = 5  # a pasted column of junk names its first few cells, not hundreds


def as_text_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Every cell as the shortest text that reads back to the same float (repr), integers as integers."""
    def text(v) -> str:
        return str(int(v)) if isinstance(v, int) else repr(float(v))
    return df.apply(lambda col: [text(v) for v in col.tolist()]).astype(object)


def _number(text, row: int, col: str) -> tuple[float | None, str | None]:
    try:
        value = float(str(text))
    except ValueError:
        return None, f"table row {row}, {col}: {str(text)[:20]!r} is not a number (write e.g. 0.5, -2 or 1e-3)"
    if not math.isfinite(value):
        return None, f"table row {row}, {col}: {str(text)[:20]!r} is not a finite number"
    return value, None


def parse_table(df: pd.DataFrame, x_cols: list[str], y_cols: list[str], *,
                class_targets: bool) -> tuple[list | None, list | None, list[str]]:
    """(x rows, y rows or class indices, problems); x and y are None when any cell is not a finite number."""
    xs, ys, problems = [], [], []
    for row, record in enumerate(df[x_cols + y_cols].itertuples(index=False)):
        values = []
        for col, text in zip(x_cols + y_cols, record, strict=True):
            value, problem = _number(text, row, col)
            values.append(value)
            if problem:
                problems.append(problem)
        xs.append(values[:len(x_cols)])
        y = values[len(x_cols):]
        ys.append((int(y[0]) if y[0] is not None and y[0].is_integer() else y[0]) if class_targets else y)
    if problems:
        return None, None, problems[:MAX_PROBLEMS]
    return xs, ys, []
