"""Rows 8a–8c: MNIST epochs on the GPU (only where CUDA is present): the trainer against the plain loop on the same
GPU, and the fused step replayed as a CUDA graph against the same step run eagerly."""
from __future__ import annotations

from dataclasses import replace

import torch

from bench import Context, Result
from bench.baselines import plain_epoch
from bench.rows_mnist import QUICK_STEPS, SIZES, row1_config, store_for, trainer_run
from bench.timing import interleaved, noise
from engine.train import fused

ROWS = {
    "8a": "GPU: MNIST epoch, batch 64: trainer vs plain loop on the GPU",
    "8b": "GPU: MNIST epoch, batch 512: trainer vs plain loop on the GPU (information)",
    "8c": "GPU: MNIST epoch, batch 64: trainer with the step as a CUDA graph vs the same step eager",
}
EPOCH_SECONDS = 0.1  # the target for batch 64 on an H100/H200-class GPU
BIG_GPUS = ("H100", "H200", "H800", "B200")


def gpu_rows(ctx: Context) -> list[Result]:
    if not torch.cuda.is_available():
        return [Result(row, name, target="—", note="unmeasured: no CUDA device") for row, name in ROWS.items()]
    cpu = ctx.mnist()
    data = replace(cpu, **{k: getattr(cpu, k).cuda() for k in ("x_train", "y_train", "x_val", "y_val", "x_test",
                                                                 "y_test") if getattr(cpu, k) is not None})
    gpu = torch.cuda.get_device_name()
    return [_vs_plain(ctx, "8a", 64, data, gpu), _vs_plain(ctx, "8b", 512, data, gpu), _graph_row(ctx, data, gpu)]


def _vs_plain(ctx: Context, row: str, batch: int, data, gpu: str) -> Result:
    steps = QUICK_STEPS if ctx.quick else None
    cfg = row1_config(device="cuda", batch_size=batch, max_steps=steps)
    infos = []
    t = interleaved({"ours": lambda: infos.append(trainer_run(cfg, data, store_for(ctx))),
                     "plain": lambda: plain_epoch(data.x_train, data.y_train, SIZES, batch=batch, lr=0.05,
                                                  momentum=0.9, max_steps=steps)}, ctx.repeats, device="cuda")
    ours, base = t["ours"].median, t["plain"].median
    loop = sorted(i["epoch_seconds"] for i in infos[1:])[len(infos[1:]) // 2]
    note = f"{gpu}; data already on the GPU; ours = whole train() run, its loop alone {loop:.3f} s"
    if batch != 64:
        return Result(row, ROWS[row], ours, base, "s", "info", None, noise(t["ours"], t["plain"]), note,
                      {k: v.summary() for k, v in t.items()})
    target, met = "≤ 0.5×", ours / base <= 0.5
    if any(name in gpu for name in BIG_GPUS):
        target += f"; loop ≤ {EPOCH_SECONDS} s"
        met = met and loop <= EPOCH_SECONDS
    return Result(row, ROWS[row], ours, base, "s", target, met, noise(t["ours"], t["plain"]), note,
                  {k: v.summary() for k, v in t.items()})


def _graph_row(ctx: Context, data, gpu: str) -> Result:
    """The automatic choice (fused.GRAPH_MAX_BATCH) is right at batch 64 when this ratio is < 1."""
    cfg = row1_config(device="cuda", max_steps=QUICK_STEPS if ctx.quick else None)
    limit = fused.GRAPH_MAX_BATCH

    def eager():
        fused.GRAPH_MAX_BATCH = 0
        try:
            trainer_run(cfg, data, store_for(ctx))
        finally:
            fused.GRAPH_MAX_BATCH = limit

    t = interleaved({"graph": lambda: trainer_run(cfg, data, store_for(ctx)), "eager": eager}, ctx.repeats,
                    device="cuda")
    return Result("8c", ROWS["8c"], t["graph"].median, t["eager"].median, "s", "info (< 1: graphs pay)", None,
                  noise(t["graph"], t["eager"]), f"{gpu}; graphs are used up to batch {limit}",
                  {k: v.summary() for k, v in t.items()})


GROUPS = [(tuple(ROWS), gpu_rows)]
