"""Run ownership on the pages (AppTest): Compare shows every run but offers to rename or delete only the
visitor's own, unless the operator set BACKPROP_LAB_ADMIN=1; a run started on Train belongs to its session."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from engine.store.runs import RunStore
from engine.train.jobs import JOBS

PAGES = Path(__file__).resolve().parents[2] / "pages"
ME = "session:me-0123456789"


@pytest.fixture
def store(tmp_path, monkeypatch) -> RunStore:
    monkeypatch.setenv("BACKPROP_LAB_HOME", str(tmp_path))
    monkeypatch.delenv("BACKPROP_LAB_STORE", raising=False)
    monkeypatch.delenv("BACKPROP_LAB_ADMIN", raising=False)
    return RunStore(tmp_path / "runs.sqlite")


@pytest.fixture
def three_runs(store) -> dict[str, str]:
    """One run each: mine, another visitor's, and one from before owners (the CLI's)."""
    ids = {}
    for who, owner in (("mine", ME), ("theirs", "session:someone-else"), ("nobody's", None)):
        rid = RunStore(store.path, owner=owner).create_run({"optimizer": "sgd", "lr": 0.1}, device="cpu", name=who)
        store.log_epoch(rid, {"epoch": 1, "val_loss": 0.5})
        store.finish(rid, "finished", summary={"final_val_loss": 0.5})
        ids[who] = rid
    return ids


def _compare() -> AppTest:
    at = AppTest.from_file(str(PAGES / "compare.py"), default_timeout=60)
    at.session_state["run_owner"] = ME  # this visitor's session token
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _manage_options(at: AppTest) -> tuple[list, list]:
    rename = next(s for s in at.selectbox if s.label == "Run to rename")
    delete = next(m for m in at.multiselect if m.label == "Runs to delete")
    return rename.options, delete.options


def test_compare_lists_every_run_but_offers_only_mine(three_runs):
    at = _compare()
    assert sorted(at.dataframe[0].value["run_id"]) == sorted(three_runs.values())
    mine = [f"mine [{three_runs['mine'][:6]}]"]
    assert _manage_options(at) == (mine, mine)


def test_a_visitor_deletes_their_own_run(three_runs, store):
    at = _compare()
    next(m for m in at.multiselect if m.label == "Runs to delete").set_value([three_runs["mine"]]).run()
    next(c for c in at.checkbox if c.label.startswith("Yes, delete 1 run")).check().run()
    next(b for b in at.button if b.label == "Delete").click().run()
    assert not at.exception and "Deleted 1 run(s)." in [s.value for s in at.success]
    assert sorted(store.runs()["name"]) == ["nobody's", "theirs"]


def test_with_the_operator_setting_every_run_can_be_changed(three_runs, store, monkeypatch):
    monkeypatch.setenv("BACKPROP_LAB_ADMIN", "1")
    at = _compare()
    rename_options, delete_options = _manage_options(at)
    assert len(rename_options) == len(delete_options) == 3
    next(m for m in at.multiselect if m.label == "Runs to delete").set_value([three_runs["theirs"]]).run()
    next(c for c in at.checkbox if c.label.startswith("Yes, delete 1 run")).check().run()
    next(b for b in at.button if b.label == "Delete").click().run()
    assert sorted(store.runs()["name"]) == ["mine", "nobody's"]


def test_a_visitor_without_runs_is_told_why_nothing_can_be_changed(store):
    RunStore(store.path, owner="session:someone-else").create_run({"optimizer": "sgd"}, device="cpu", name="x")
    at = _compare()
    assert not [s for s in at.selectbox if s.label == "Run to rename"]
    assert any("there are none yet" in c.value for c in at.caption)


def test_a_run_started_on_train_belongs_to_its_session(store):
    at = AppTest.from_file(str(PAGES / "train.py"), default_timeout=60)
    at.session_state["run_owner"] = ME
    at.run()
    at.number_input(key="train_epochs").set_value(1)
    at.button(key="train_submit").click().run()
    assert not at.exception, [e.message for e in at.exception]
    job = JOBS[at.session_state["train_job"]]
    deadline = time.monotonic() + 120
    while not job.done and time.monotonic() < deadline:
        time.sleep(0.1)
    assert store.runs()["owner"].tolist() == [ME]
