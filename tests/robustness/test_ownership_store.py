"""Run ownership in the store: a run records who created it; a visitor renames and deletes only their own runs,
the operator (by=None: the CLI, or BACKPROP_LAB_ADMIN=1 in the app) any; v1 stores migrate with unowned runs."""
from __future__ import annotations

import pickle
import sqlite3

import pytest

from engine.store.runs import RunStore, StoreError
from engine.store.schema import MIGRATIONS

CONFIG = {"optimizer": "sgd", "lr": 0.1}


def _names(store: RunStore) -> dict[str, str]:
    return dict(zip(store.runs()["run_id"], store.runs()["name"], strict=True))


def test_a_run_records_the_owner_of_the_store_that_created_it(tmp_path):
    mine = RunStore(tmp_path / "runs.sqlite", owner="session:alice")
    rid = mine.create_run(CONFIG, device="cpu", name="a")
    cli = RunStore(tmp_path / "runs.sqlite").create_run(CONFIG, device="cpu", name="c")
    owners = dict(zip(mine.runs()["run_id"], mine.runs()["owner"], strict=True))
    assert owners[rid] == "session:alice" and owners[cli] is None
    assert pickle.loads(pickle.dumps(mine)).owner == "session:alice"  # process workers keep it


def test_a_visitor_changes_only_their_own_runs(tmp_path):
    alice, bob = (RunStore(tmp_path / "runs.sqlite", owner=f"session:{n}") for n in ("alice", "bob"))
    a, b = alice.create_run(CONFIG, device="cpu", name="a"), bob.create_run(CONFIG, device="cpu", name="b")
    with pytest.raises(StoreError, match="another session"):
        alice.rename(b, "mine now", by="session:alice")
    with pytest.raises(StoreError, match="1 of these runs"):
        alice.delete([a, b], by="session:alice")  # one foreign run: nothing is deleted
    assert _names(alice) == {a: "a", b: "b"}
    alice.rename(a, "renamed", by="session:alice")
    assert alice.delete([a], by="session:alice") == 1
    assert _names(alice) == {b: "b"}


def test_unowned_runs_are_nobodys_and_the_operator_changes_any(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    old = store.create_run(CONFIG, device="cpu", name="from the CLI")
    with pytest.raises(StoreError):
        store.delete([old], by="session:alice")
    store.rename(old, "operator", by=None)
    assert _names(store) == {old: "operator"}
    assert store.delete([old]) == 1


def test_a_v1_store_migrates_with_its_runs_unowned(tmp_path):
    path = tmp_path / "v1.sqlite"
    conn = sqlite3.connect(path)
    for statement in MIGRATIONS[1].split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute("INSERT INTO runs (run_id, name, created, heartbeat, status, device, host, pid, config)"
                 " VALUES ('old000000001', 'before owners', 1.0, 1.0, 'finished', 'cpu', 'h', 1, '{}')")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    listing = RunStore(path, readonly=True).runs()  # a read-only listing reads v1 as it is: owner NULL
    assert listing["name"].tolist() == ["before owners"] and listing["owner"].tolist() == [None]
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1  # nothing migrated by a listing
    store = RunStore(path)
    runs = store.runs()
    assert runs["name"].tolist() == ["before owners"] and runs["owner"].tolist() == [None]
    with pytest.raises(StoreError):
        store.rename("old000000001", "x", by="session:alice")
    assert store.delete(["old000000001"]) == 1
