"""ui.number_table: the Inspector's x/y table holds text that Python parses, so "1e308" is 1e308 (the browser's
number cell dropped the "e" and made it 1308) and a bad cell is named, never silently changed."""
from __future__ import annotations

import pandas as pd

from ui.number_table import as_text_frame, parse_table


def test_exponents_parse_exactly():
    df = pd.DataFrame({"x0": ["1e308", "-2.5E-3"], "y0": ["3", " 4 "]})
    assert parse_table(df, ["x0"], ["y0"], class_targets=False) == ([[1e308], [-0.0025]], [[3.0], [4.0]], [])


def test_a_cell_that_is_not_a_finite_number_is_named():
    df = pd.DataFrame({"x0": ["1", "1e309"], "x1": ["two", "0"], "class": ["0", "1.5"]})
    xs, ys, problems = parse_table(df, ["x0", "x1"], ["class"], class_targets=True)
    assert (xs, ys) == (None, None)
    assert problems == ["table row 0, x1: 'two' is not a number (write e.g. 0.5, -2 or 1e-3)",
                        "table row 1, x0: '1e309' is not a finite number"]


def test_class_cells_stay_integers_and_the_text_frame_round_trips():
    df = as_text_frame(pd.DataFrame({"x0": [0.1, 1e308], "class": [2, 0]}))
    assert df["x0"].tolist() == ["0.1", "1e+308"]
    assert parse_table(df, ["x0"], ["class"], class_targets=True) == ([[0.1], [1e308]], [2, 0], [])
