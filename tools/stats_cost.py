"""What one health-stats step costs next to one training step, in CPU time (process_time, 1 thread).

    .venv/bin/python tools/stats_cost.py [--repeats 9] [--calls 200]

For MNIST (784-128-64-10, batch 64, the bench's row 1 config) and moons (16:relu,16:relu,2, batch 32):
a block of `calls` training steps (forward, backward, optimizer step: the loop's own functions) and a
block of `calls` stats steps (the loop's activations a_l = φ_l(z_l), pre_step_stats, post_step_stats) are
timed in turn, alternating which goes first, `repeats` times. Prints milliseconds per call and stats / train,
from the fastest repeat of each (the one the shared machine disturbed least) and from the medians. Say the
load average (`uptime`) with the figures: the machine may be shared.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.train import health  # noqa: E402
from engine.train.config import TrainConfig  # noqa: E402
from engine.train.loop import _Batches, _forward_backward, _outputs, _Run, load_data  # noqa: E402

CONFIGS = {
    "mnist": dict(dataset="mnist", layers="128:relu,64:relu,10:identity", loss="cross_entropy", optimizer="sgd",
                  impl="torch", backward="fused", lr=0.05, momentum=0.9, batch_size=64, epochs=1, seed=0,
                  device="cpu", val_fraction=0.0),
    "moons": dict(dataset="moons", layers="16:relu,16:relu,2:identity", loss="cross_entropy", optimizer="sgd",
                  impl="torch", backward="fused", lr=0.1, momentum=0.9, batch_size=32, epochs=1, seed=0,
                  device="cpu"),
}


def _block(fn, calls: int) -> float:
    """CPU seconds per call over `calls` calls."""
    start = time.process_time()
    for _ in range(calls):
        fn()
    return (time.process_time() - start) / calls


def measure(name: str, repeats: int, calls: int) -> dict:
    cfg = TrainConfig(**CONFIGS[name])
    run = _Run(cfg, load_data(cfg))
    batches = _Batches(run, torch.randperm(len(run.x), generator=run.order))
    xb, _, tb = batches(slice(0, run.batch))

    def train_step():
        _forward_backward(run, xb, tb, False)
        run.opt.step()

    _, _, zs = _forward_backward(run, xb, tb, True)

    def stats_step():
        pre = health.pre_step_stats(run.model, zs, _outputs(run.model, zs))
        health.post_step_stats(run.model, *pre)

    fns = {"train": train_step, "stats": stats_step}
    for fn in fns.values():
        _block(fn, calls)  # warm-up
    samples = {k: [] for k in fns}
    for i in range(repeats):
        for k in (fns if i % 2 == 0 else reversed(list(fns))):
            samples[k].append(_block(fns[k], calls))
    out = {"set": name}
    for how, pick in (("min", min), ("median", statistics.median)):
        train_ms, stats_ms = (pick(samples[k]) * 1e3 for k in ("train", "stats"))
        out[how] = (train_ms, stats_ms, stats_ms / train_ms)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--sets", default="mnist,moons")
    args = ap.parse_args()
    torch.set_num_threads(1)
    for name in args.sets.split(","):
        r = measure(name, args.repeats, args.calls)
        for how in ("min", "median"):
            train_ms, stats_ms, ratio = r[how]
            print(f"{r['set']:6s} {how:6s} train step {train_ms:.3f} ms  stats step {stats_ms:.3f} ms  "
                  f"stats/train {ratio:.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
