"""The recorder writes a run into the store as it goes: a finished, diverged, killed or concurrent run
leaves exactly what it produced."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.settings import PROJECT_ROOT
from engine.store.runs import RunStore
from engine.train.config import TrainConfig
from engine.train.loop import train
from engine.train.recorder import record

CFG = dict(dataset="moons", n_samples=120, layers="8:relu,8:relu,2:identity", loss="cross_entropy", optimizer="adam",
           lr=0.02, batch_size=16, epochs=3, val_fraction=0.25, log_every=2, stats_every=3)


def recorded(cfg: TrainConfig, store: RunStore | None, **kw) -> list:
    return list(record(train(cfg), store, cfg, **kw))


def test_a_finished_run_lands_in_the_store(tmp_path: Path):
    store = RunStore(tmp_path / "runs.sqlite")
    cfg = TrainConfig(**CFG)
    evs = recorded(cfg, store, name="first")
    run_id = evs[0].data["run_id"]
    kinds = [e.kind for e in evs]
    runs = store.runs()
    assert list(runs["run_id"]) == [run_id]
    run = store.run(run_id)
    assert run["status"] == "finished" and run["name"] == "first" and run["device"] == "cpu"
    assert run["config"] == json.loads(json.dumps(cfg.to_dict()))

    epochs = store.epochs([run_id])
    emitted = [e.data for e in evs if e.kind == "epoch"]
    assert list(epochs["epoch"]) == [1, 2, 3]
    assert list(epochs["train_loss"]) == [d["train_loss"] for d in emitted]
    assert list(epochs["val_accuracy"]) == [d["val_accuracy"] for d in emitted]

    steps = store.steps([run_id])
    emitted_steps = [e.data for e in evs if e.kind == "step"]
    # 90 rows / 16 → 6 steps per epoch, 18 in all: step 0 (untrained) and every step up to 50
    assert len(steps) == kinds.count("step") == 19
    assert list(steps["step"]) == [d["step"] for d in emitted_steps]
    assert list(steps["loss"]) == [d["loss"] for d in emitted_steps]

    layers = store.layer_stats([run_id])
    assert len(layers) == 3 * kinds.count("layers") == 3 * 7  # steps 1, 4, …, 16 and the last, 18 × 3 layers
    assert set(layers["layer"]) == {1, 2, 3}
    assert {"grad_norm", "weight_norm", "update_ratio", "dead_fraction", "act_mean", "act_std"} <= set(layers.columns)

    hists = store.histograms(run_id)
    assert len(hists) == 3 * 3 * 2  # epochs × layers × (weight, grad)
    assert all(sum(c) == n for c, n in zip(hists["counts"], [8 * 2, 8 * 2, 8 * 8, 8 * 8, 2 * 8, 2 * 8] * 3,
                                              strict=True))

    summary = run["summary"]
    assert summary["epochs_done"] == 3 and summary["steps"] == 18
    assert summary["final_train_loss"] == emitted[-1]["train_loss"]
    assert summary["test_accuracy"] is None


def test_the_default_store_follows_the_environment(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("BACKPROP_LAB_STORE", str(tmp_path / "env.sqlite"))
    cfg = TrainConfig(**{**CFG, "epochs": 1})
    run_id = recorded(cfg, RunStore())[0].data["run_id"]
    assert (tmp_path / "env.sqlite").exists()
    assert RunStore(tmp_path / "env.sqlite").run(run_id)["status"] == "finished"


def test_no_store_records_nothing_and_passes_events_through():
    evs = recorded(TrainConfig(**{**CFG, "epochs": 1}), None)
    assert evs[0].data["run_id"] is None and evs[-1].kind == "finished"


def test_a_diverged_run_is_stored_as_diverged_with_its_message(tmp_path: Path):
    store = RunStore(tmp_path / "runs.sqlite")
    cfg = TrainConfig(dataset="regression", n_samples=200, layers="1:identity", loss="mse", init="normal",
                      optimizer="sgd", lr=100, batch_size=10, epochs=2, val_fraction=0.0, log_every=1)
    evs = recorded(cfg, store)
    run = store.run(evs[0].data["run_id"])
    assert evs[-1].kind == "diverged"
    assert run["status"] == "diverged" and "smaller learning rate" in run["message"]
    steps = store.steps([run["run_id"]])
    assert steps["loss"].notna().all() and steps["step"].min() == 0  # the curve up to the divergence
    assert steps["step"].max() in (evs[-1].data["step"] - 1, evs[-1].data["step"])


def test_a_stopped_run_is_stored_as_stopped(tmp_path: Path):
    import threading

    store, stop = RunStore(tmp_path / "runs.sqlite"), threading.Event()
    cfg = TrainConfig(**{**CFG, "epochs": 20})
    for ev in record(train(cfg, stop=stop), store, cfg):
        if ev.kind == "epoch":
            stop.set()
    run = store.runs().iloc[0]
    assert run["status"] == "stopped" and run["summary"]["epochs_done"] == 1 and run["summary"]["steps"] == 7


def test_a_trainer_error_marks_the_run_failed(tmp_path: Path):
    store = RunStore(tmp_path / "runs.sqlite")
    cfg = TrainConfig(**CFG)

    def broken():
        gen = train(cfg)
        yield next(gen)  # the start event: the run row exists now
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        list(record(broken(), store, cfg))
    run = store.runs().iloc[0]
    assert run["status"] == "failed" and "boom" in run["message"]


# ---------------------------------------------------------------- across processes

def _train_cmd(store: Path, epochs: int, n: int = 400, batch: int = 8, *extra: str) -> list[str]:
    return [sys.executable, "-m", "engine", "train", "--dataset", "moons", "--n-samples", str(n), "--layers",
            "16:relu,2:identity", "--loss", "cross_entropy", "--optimizer", "sgd", "--lr", "0.05",
            "--batch-size", str(batch), "--epochs", str(epochs), "--store", str(store), "--json", *extra]


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "OMP_NUM_THREADS": "1"}


def test_a_killed_trainer_leaves_the_run_interrupted_with_its_epochs(tmp_path: Path):
    path = tmp_path / "runs.sqlite"
    store = RunStore(path)
    proc = subprocess.Popen(_train_cmd(path, 50, n=4000, batch=4), env=_env(), cwd=PROJECT_ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline, done = time.monotonic() + 60, 0
        while done < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
            runs = store.runs()
            if len(runs):
                done = len(store.epochs([runs["run_id"].iloc[0]]))
        assert done >= 2, "the trainer never stored two epochs"
        assert store.runs()["status"].iloc[0] == "running"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    run = store.runs().iloc[0]
    assert run["status"] == "interrupted"
    epochs = store.epochs([run["run_id"]])
    assert len(epochs) >= done and list(epochs["epoch"]) == list(range(1, len(epochs) + 1))
    assert epochs["train_loss"].notna().all()
    # the summary was written with each epoch, so the killed run still has final metrics
    assert run["summary"]["epochs_done"] == len(epochs)
    assert run["summary"]["final_train_loss"] == epochs["train_loss"].iloc[-1]


def test_two_trainers_writing_one_store_while_a_reader_polls_lose_nothing(tmp_path: Path):
    path = tmp_path / "runs.sqlite"
    store = RunStore(path)
    procs = [subprocess.Popen(_train_cmd(path, 8, 200, 8, "--seed", str(seed), "--name", f"w{seed}"), env=_env(),
                              cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for seed in (1, 2)]
    reads = 0
    while any(p.poll() is None for p in procs):  # the page's view: read everything while both write
        runs = store.runs()
        if len(runs):
            store.epochs(list(runs["run_id"]))
            store.steps(list(runs["run_id"]))
        reads += 1
        time.sleep(0.02)
    outputs = [p.communicate(timeout=30) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in outputs]
    assert reads > 3
    results = {json.loads(out)["run_id"]: json.loads(out) for out, _ in outputs}
    runs = store.runs()
    assert sorted(runs["name"]) == ["w1", "w2"] and set(runs["status"]) == {"finished"}
    for run_id, result in results.items():
        epochs = store.epochs([run_id])
        assert list(epochs["epoch"]) == list(range(1, 9))
        assert list(epochs["train_loss"]) == [e["train_loss"] for e in result["epochs"]]
        steps = store.steps([run_id])
        # 160 train rows / 8 = 20 steps per epoch; steps 0–50, then every 25th step and each epoch's end
        logged = sorted(set(range(51)) | set(range(75, 161, 25)) | set(range(60, 161, 20)))
        assert list(steps["step"]) == logged and steps["loss"].notna().all()
        assert len(store.histograms(run_id)) == 8 * 2 * 2


def test_a_run_that_never_ends_is_summarised_by_its_last_epoch(tmp_path: Path):
    """A trainer killed (here: abandoned) after epoch 2 leaves an interrupted run whose summary is epoch 2's
    metrics, so Compare can still show its final losses."""
    store = RunStore(tmp_path / "runs.sqlite")
    cfg = TrainConfig(**CFG)
    for ev in record(train(cfg), store, cfg):
        if ev.kind == "epoch" and ev.data["epoch"] == 2:
            break  # no end event: like a killed process
    assert store.reap_interrupted(stale_after=0) == 1
    run = store.runs().iloc[0]
    epochs = store.epochs([run["run_id"]])
    assert run["status"] == "interrupted" and len(epochs) == 2
    summary = run["summary"]
    assert summary["epochs_done"] == 2
    assert summary["final_train_loss"] == epochs["train_loss"].iloc[-1]
    assert summary["final_val_loss"] == epochs["val_loss"].iloc[-1]
    assert summary["final_val_accuracy"] == epochs["val_accuracy"].iloc[-1]


def test_a_failed_run_keeps_the_summary_of_its_last_epoch(tmp_path: Path):
    store = RunStore(tmp_path / "runs.sqlite")
    cfg = TrainConfig(**CFG)

    def broken():
        for ev in train(cfg):
            yield ev
            if ev.kind == "epoch":
                raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        list(record(broken(), store, cfg))
    run = store.runs().iloc[0]
    epochs = store.epochs([run["run_id"]])
    assert run["status"] == "failed" and run["summary"]["epochs_done"] == 1
    assert run["summary"]["final_train_loss"] == epochs["train_loss"].iloc[0]
