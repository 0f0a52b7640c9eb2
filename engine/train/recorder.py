"""Write a run's events into the RunStore as they pass: the run row at start, metrics at least every epoch,
the final status at the end. A killed process leaves the run 'interrupted' with every finished epoch kept and
the summary of the last one (written with each epoch), so it still shows final metrics."""
from __future__ import annotations

from collections.abc import Iterable, Iterator

from engine.store.runs import RunStore, StoreError
from engine.train import checkpoints
from engine.train.config import TrainConfig
from engine.train.loop import Event

END_KINDS = ("finished", "diverged", "stopped")


def summary_of(epochs: list[dict], end: dict) -> dict:
    """Final metrics of a run, for the runs table."""
    last = epochs[-1] if epochs else {}
    return {"final_train_loss": last.get("train_loss"), "final_val_loss": last.get("val_loss"),
            "final_val_accuracy": last.get("val_accuracy"), "test_accuracy": end.get("test_accuracy"),
            "epochs_done": len(epochs), "steps": end.get("step")}


def record(events: Iterable[Event], store: RunStore | None, cfg: TrainConfig, *, name: str | None = None,
           sweep_id: str | None = None, parent: tuple[str, int] | None = None) -> Iterator[Event]:
    """Pass every event through; write it to `store` (None: record nothing). The start event gains run_id.
    parent: (parent_id, branch_step) for a branch."""
    steps, layers, epochs = [], [], []
    run_id = None
    events = iter(events)
    while True:
        try:
            ev = next(events)
        except StopIteration:
            return
        except Exception as err:  # the trainer broke: the stored run says so instead of hanging as "running"
            fail(store, run_id, f"error: {err}")
            raise
        try:
            if ev.kind == "start":
                if store is not None:
                    run_id = store.create_run(cfg.to_dict(), device=ev.data["device"], name=name or cfg.name,
                                              sweep_id=sweep_id)
                    checkpoints.save_lineage(store, run_id, checkpoints.data_fingerprint(cfg), *(parent or ()))
                ev.data["run_id"] = run_id
            elif ev.kind == "step":
                steps.append({k: ev.data[k] for k in ("step", "epoch", "wall", "loss")})
            elif ev.kind == "layers":
                layers.extend(ev.data["rows"])
            elif ev.kind == "epoch":
                epochs.append({k: v for k, v in ev.data.items() if k != "state"})
                if run_id:  # the summary so far goes with each epoch: a killed run keeps its last metrics
                    _flush(store, run_id, steps, layers, epochs[-1], summary_of(epochs, {}))
            elif ev.kind == "checkpoint" and run_id:
                checkpoints.save_checkpoint(store, run_id, ev.data)
            elif ev.kind == "histograms" and run_id:
                for row in ev.data["rows"]:
                    store.log_histograms(run_id, ev.data["epoch"], row["layer"], row["kind"], row["counts"],
                                         row["edges"])
            elif ev.kind in END_KINDS and run_id:
                _flush(store, run_id, steps, layers, None)
                store.finish(run_id, ev.kind, summary=summary_of(epochs, ev.data), message=ev.data.get("message"))
        except StoreError as err:  # locked, deleted, disk gone: keep training, stop recording
            ev.data["store_error"] = str(err)
            if ev.kind == "start":
                ev.data["run_id"] = None
            run_id = None
        yield ev


def _flush(store: RunStore, run_id: str, steps: list, layers: list, epoch_row: dict | None,
           summary: dict | None = None) -> None:
    if steps:
        store.log_steps(run_id, steps)
    if layers:
        store.log_layer_stats(run_id, layers)
    if epoch_row is not None:
        store.log_epoch(run_id, {k: v for k, v in epoch_row.items() if v is not None}, summary=summary)
    steps.clear()
    layers.clear()


def fail(store: RunStore | None, run_id: str | None, message: str) -> None:
    """Mark a run failed after an unexpected error, if it was created."""
    if store is not None and run_id:
        try:
            store.finish(run_id, "failed", message=message)
        except StoreError:
            pass
