"""ui/choice.py: pickers over run ids shown by name, when the runs and their labels change while the page is open
(a second sweep relabels "adam" as "adam [82460b]"; a run is deleted)."""
from __future__ import annotations

from streamlit.testing.v1 import AppTest

from ui.choice import GONE, label_of


def test_the_label_of_a_value_that_is_no_option_is_text_never_none_nor_an_options_label():
    label = label_of({"r1": "adam", "r2": "sgd (no longer listed)"})
    assert label("r1") == "adam"
    assert label("adam") == "adam" + GONE  # a raw label the browser sent back: text, and not the option "adam"
    assert label("sgd") == "sgd (no longer listed)*"  # never the label of an option, even a run named so
    assert label(None) == "None" + GONE


def _page():
    import streamlit as st

    from ui.choice import choose_many, choose_one
    labels = st.session_state["labels"]
    many = choose_many(st, "Runs", labels, key="many", default=list(labels)[:2])
    one = choose_one(st, "Run", labels, key="one", index=1)
    st.write(f"picked {many} {one}")


def _app(labels: dict) -> AppTest:
    at = AppTest.from_function(_page)
    at.session_state["labels"] = labels
    return at.run()


def _rerun(at: AppTest, labels: dict) -> AppTest:
    at.session_state["labels"] = labels
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_defaults_first_then_the_pick_survives_new_runs_and_relabelling():
    at = _app({"a": "adam", "b": "sgd", "c": "rmsprop"})
    assert at.multiselect(key="many").value == ["a", "b"] and at.selectbox(key="one").value == "b"
    at.multiselect(key="many").set_value(["c"])
    at.selectbox(key="one").set_value("c")
    at = _rerun(at.run(), {"d": "adam [d]", "a": "adam [a]", "b": "sgd", "c": "rmsprop [c]", "e": "rmsprop [e]"})
    assert at.multiselect(key="many").value == ["c"] and at.selectbox(key="one").value == "c"
    assert at.multiselect(key="many").options[at.multiselect(key="many").indices[0]] == "rmsprop [c]"


def test_deleted_runs_leave_the_pick_and_an_emptied_pick_falls_back_to_the_default():
    at = _app({"a": "adam", "b": "sgd", "c": "rmsprop"})
    at.multiselect(key="many").set_value(["b", "c"])
    at.selectbox(key="one").set_value("c")
    at = _rerun(at.run(), {"a": "adam", "b": "sgd"})  # c deleted
    assert at.multiselect(key="many").value == ["b"] and at.selectbox(key="one").value == "b"  # the index-1 option
    at = _rerun(at, {"x": "x", "y": "y", "z": "z"})  # every picked run gone
    assert at.multiselect(key="many").value == ["x", "y"] and at.selectbox(key="one").value == "y"


def test_a_pick_the_visitor_emptied_stays_empty():
    at = _app({"a": "adam", "b": "sgd"})
    at.multiselect(key="many").set_value([])
    at = _rerun(at.run(), {"a": "adam", "b": "sgd", "c": "new"})
    assert at.multiselect(key="many").value == []
