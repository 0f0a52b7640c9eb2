"""Selectboxes and multiselects whose options are keys shown by label (run ids shown by run name), safe when the
options or their labels change while the page is open.

Why: the browser keeps a widget's value as the *labels* it was shown and sends them back on every rerun; the
server turns them back into options with this run's labels. When the labels change between reruns (a second
sweep's "adam" turns the first's "adam" into "adam [82460b]"; a run renamed or deleted) a label no longer
maps to an option and comes back as the raw label string. Streamlit then calls format_func on that stale value
(it serialises the stored value with the previous run's format_func): `labels.get` returns None there and the
page dies with "TypeError: bad argument type for built-in operation". So:
- `label_of` is a format_func that returns a str for every value, listed or not;
- `choose_one` / `choose_many` read the value before the widget is drawn (still decoded with the previous
  run's labels, so the run ids the visitor picked), keep what is still an option and hand it to the widget
  through session state: the pick survives relabelling, and a stale value never reaches the widget.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import streamlit as st

GONE = " (no longer listed)"  # the label of a value that is not among the options


def label_of(labels: Mapping[Any, str]) -> Callable[[Any], str]:
    """format_func over `labels`: an option's label; any other value as its text + GONE (never a label of an
    option: a run named "x (no longer listed)" pushes it further), so it never passes for an option."""
    taken = set(labels.values())

    def label(value: Any) -> str:
        if value in labels:
            return str(labels[value])
        text = f"{value}{GONE}"
        while text in taken:
            text += "*"
        return text

    return label


def choose_one(where, text: str, labels: Mapping[Any, str], *, key: str, index: int = 0, **kwargs) -> Any:
    """A selectbox over labels' keys: the kept value if it is still an option, else the option at `index`."""
    options = list(labels)
    held = st.session_state.get(key)
    st.session_state[key] = held if _listed(held, labels) else (options[index] if options else None)
    return where.selectbox(text, options, format_func=label_of(labels), key=key, **kwargs)


def choose_many(where, text: str, labels: Mapping[Any, str], *, key: str, default: Sequence = (),
                **kwargs) -> list:
    """A multiselect over labels' keys: the kept values still among the options; `default` the first time and
    when none of the kept ones is left (an empty pick the visitor made stays empty)."""
    held = st.session_state.get(key)
    kept = [v for v in held if _listed(v, labels)] if isinstance(held, list) else []
    if not kept and held != []:
        kept = [v for v in default if _listed(v, labels)]
    st.session_state[key] = kept
    return where.multiselect(text, list(labels), format_func=label_of(labels), key=key, **kwargs)


def _listed(value: Any, labels: Mapping) -> bool:
    try:
        return value in labels
    except TypeError:  # an unhashable value (never one of our options)
        return False
