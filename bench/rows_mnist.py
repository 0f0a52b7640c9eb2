"""Rows 1, 1b, 2, 7 and 9a: the trainer on MNIST (CPU) against the plain loop, the matrix products alone
(the floor) and the DataLoader loop."""
from __future__ import annotations

import statistics
from pathlib import Path

from bench import Context, Result
from bench.baselines import dataloader_epoch, matmul_floor_epoch, plain_epoch
from bench.timing import interleaved, noise, num_threads
from engine.store.runs import RunStore
from engine.train import recorder
from engine.train.config import TrainConfig
from engine.train.loop import load_data, train
from engine.train.presets import preset_config

SIZES = [784, 128, 64, 10]
QUICK_STEPS = 30  # --quick: this many steps stand in for an epoch
ACCURACY_SEEDS = (0, 1, 2, 3, 4)

ROWS = {
    "1": "MNIST epoch, 784-128-64-10, batch 64, SGD momentum: trainer (metrics + store) vs plain loop",
    "1b": "MNIST epoch, same: trainer vs the matrix products alone (the floor: 8 products a step, nothing else)",
    "2": "MNIST epoch, same: trainer vs DataLoader(TensorDataset, shuffle=True) loop (information)",
    "7": "MNIST test accuracy after 5 epochs, the MNIST preset, worst of seeds 0–4",
    "9a": "threads: MNIST epoch (trainer), 1 thread vs 2 threads",
}


def row1_config(**changes) -> TrainConfig:
    base = dict(dataset="mnist", layers="128:relu,64:relu,10:identity", loss="cross_entropy", optimizer="sgd",
                impl="torch", backward="fused", lr=0.05, momentum=0.9, batch_size=64, epochs=1, seed=0,
                device="cpu", val_fraction=0.0)  # the official split: all 60 000 to train, the 10 000 to test
    return TrainConfig(**{**base, **changes})


def trainer_run(cfg: TrainConfig, data, store: RunStore | None) -> dict:
    """The trainer driven through recorder.record into the store, as the Train page runs it."""
    info = {}
    for ev in recorder.record(train(cfg, data=data), store, cfg):
        if ev.kind == "epoch":
            info["epoch_seconds"] = ev.data["seconds"]
        elif ev.kind in recorder.END_KINDS:
            info.update(status=ev.kind, test_accuracy=ev.data.get("test_accuracy"), wall=ev.data.get("wall"))
    return info


def store_for(ctx: Context) -> RunStore:
    if "store" not in ctx.cache:
        ctx.cache["store"] = RunStore(Path(ctx.tmp) / "bench-runs.sqlite")
    return ctx.cache["store"]


def epoch_rows(ctx: Context) -> list[Result]:
    """Rows 1, 1b and 2 from one interleaved measurement: trainer, plain loop, floor, DataLoader loop."""
    data, store = ctx.mnist(), store_for(ctx)
    steps = QUICK_STEPS if ctx.quick else None
    cfg = row1_config(max_steps=steps)
    infos: list[dict] = []
    kw = dict(batch=64, lr=0.05, momentum=0.9, max_steps=steps)
    x, y = data.x_train, data.y_train
    t = interleaved({"ours": lambda: infos.append(trainer_run(cfg, data, store)),
                     "plain": lambda: plain_epoch(x, y, SIZES, **kw),
                     "floor": lambda: matmul_floor_epoch(x, SIZES, batch=64, max_steps=steps),
                     "loader": lambda: dataloader_epoch(x, y, SIZES, **kw)}, ctx.repeats)
    timed = sorted(i["epoch_seconds"] for i in infos[1:])  # infos[0] is the warm-up
    loop_only = timed[len(timed) // 2]
    what = f"{steps} steps (--quick)" if steps else f"one epoch ({len(x):,} rows, {-(-len(x) // 64)} steps)"
    details = {k: v.summary() for k, v in t.items()}
    details["trainer_epoch_event_seconds_median"] = loop_only
    ours, plain, floor, loader = (t[k].median for k in ("ours", "plain", "floor", "loader"))
    note = (f"{what}; ours = whole train() run ({trainer_path(cfg, data)}) incl. untrained loss, val eval, "
            f"test report, histograms, store; its loop alone (epoch event 'seconds'): {loop_only:.2f} s")
    return [
        Result("1", ROWS["1"], ours, plain, "s", "≤ 0.8×", ours / plain <= 0.8, noise(t["ours"], t["plain"]),
               note, details),
        Result("1b", ROWS["1b"], ours, floor, "s", "≤ 1.6×", ours / floor <= 1.6, noise(t["ours"], t["floor"]),
               f"the floor is {floor / plain:.2f}× the plain loop; the trainer's loop alone is "
               f"{loop_only / floor:.2f}× the floor", {}),
        Result("2", ROWS["2"], ours, loader, "s", "info", None, noise(t["ours"], t["loader"]),
               f"DataLoader is {loader / ours:.2f}× the trainer's time (the retired target was ≥ 1.5×: a DataLoader "
               "of in-memory tensors is not much slower than indexing them)", {}),
    ]


def trainer_path(cfg: TrainConfig, data) -> str:
    """How the trainer's step computes its gradients for cfg (the start event's "path")."""
    return next(ev.data["path"] for ev in train(cfg, data=data) if ev.kind == "start")


def accuracy_row(ctx: Context) -> list[Result]:
    """Row 7: the Train page's MNIST preset (`train --preset mnist`), 5 epochs, once per seed; ours = the
    worst seed, since a learner pressing Start gets whichever seed the sidebar holds."""
    accs, walls = {}, {}
    for seed in ACCURACY_SEEDS:
        cfg = preset_config("mnist", seed=seed, device="cpu", max_steps=QUICK_STEPS if ctx.quick else None)
        info = trainer_run(cfg, load_data(cfg), store_for(ctx))  # the validation split depends on the seed
        accs[seed], walls[seed] = 100 * info["test_accuracy"], info["wall"]
    ordered = sorted(accs.values())
    low, mid, high = ordered[0], statistics.median(ordered), ordered[-1]
    spread = f"min / median / max over seeds 0–4: {low:.2f} / {mid:.2f} / {high:.2f} %"
    if ctx.quick:
        return [Result("7", ROWS["7"], low, None, "%", "min ≥ 97.5 %", None, "",
                       f"--quick: {QUICK_STEPS} steps per seed, not a measurement; {spread}", {"per_seed": accs})]
    return [Result("7", ROWS["7"], low, None, "%", "min ≥ 97.5 %", low >= 97.5, "",
                   f"{spread}; official 10 000-image test set; 5 epochs took {statistics.median(walls.values()):.1f} s "
                   "(median)", {"per_seed": accs, "wall": walls})]


def threads_row(ctx: Context) -> list[Result]:
    """The same trainer run at 1 and at 2 intra-op threads, interleaved (ours = 1 thread)."""
    data, store = ctx.mnist(), store_for(ctx)
    cfg = row1_config(max_steps=QUICK_STEPS if ctx.quick else None)

    def at(n):
        with num_threads(n):
            trainer_run(cfg, data, store)

    t = interleaved({"1": lambda: at(1), "2": lambda: at(2)}, ctx.repeats)
    return [Result("9a", ROWS["9a"], t["1"].median, t["2"].median, "s", "info", None, noise(t["1"], t["2"]),
                   "ours = 1 thread, baseline = 2 threads; ratio < 1 means one thread is faster here",
                   {k: v.summary() for k, v in t.items()})]


GROUPS = [(("1", "1b", "2"), epoch_rows), (("7",), accuracy_row), (("9a",), threads_row)]
