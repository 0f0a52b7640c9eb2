"""Row 8: MNIST epoch on the GPU, trainer vs plain loop, batch 64 and 512 (only where CUDA is present)."""
from __future__ import annotations

import torch

from bench import Context, Result
from bench.baselines import plain_epoch
from bench.rows_mnist import QUICK_STEPS, SIZES, row1_config, store_for, trainer_run
from bench.timing import interleaved, noise

ROWS = {
    "8a": "GPU: MNIST epoch, batch 64: trainer vs plain loop on the GPU",
    "8b": "GPU: MNIST epoch, batch 512: trainer vs plain loop on the GPU",
}
H100_EPOCH_SECONDS = 0.25  # target for batch 64 on an H100


def gpu_rows(ctx: Context) -> list[Result]:
    if not torch.cuda.is_available():
        return [Result(row, name, target="≤ 1.15×", note="unmeasured: no CUDA device") for row, name in ROWS.items()]
    data = ctx.mnist()
    x, y = data.x_train.cuda(), data.y_train.cuda()
    gpu = torch.cuda.get_device_name()
    out = []
    for row, batch in (("8a", 64), ("8b", 512)):
        out.append(_gpu_row(ctx, row, batch, data, x, y, gpu))
    return out


def _gpu_row(ctx: Context, row: str, batch: int, data, x, y, gpu: str) -> Result:
    steps = QUICK_STEPS if ctx.quick else None
    cfg = row1_config(device="cuda", batch_size=batch, max_steps=steps)
    t = interleaved({"ours": lambda: trainer_run(cfg, data, store_for(ctx)),
                     "plain": lambda: plain_epoch(x, y, SIZES, batch=batch, lr=0.05, momentum=0.9, max_steps=steps)},
                    ctx.repeats, device="cuda")
    ours, base = t["ours"].median, t["plain"].median
    met = ours / base <= 1.15
    target = "≤ 1.15×"
    if batch == 64 and "H100" in gpu:
        target += f"; ≤ {H100_EPOCH_SECONDS} s"
        met = met and ours <= H100_EPOCH_SECONDS
    return Result(row, ROWS[row], ours, base, "s", target, met, noise(t["ours"], t["plain"]),
                  f"{gpu}; ours = whole train() run (data copied to the GPU each run)",
                  {k: v.summary() for k, v in t.items()})


GROUPS = [(tuple(ROWS), gpu_rows)]
