"""Rows 3, 4, 5, 5b and 9b: ManualLinear vs nn.Linear, engine.core.optim vs torch.optim, the Inspector trace,
the full three-way check of the MNIST network."""
from __future__ import annotations

import time

import torch
import torch.nn.functional as F

from bench import Context, Result
from bench.rows_mnist import row1_config
from bench.timing import interleaved, noise, num_threads
from engine.core.optim import make_optimizer
from engine.inspector.materialize import materialize
from engine.inspector.spec import LayerSpec, NetworkSpec
from engine.inspector.trace import autograd_pass, trace
from engine.train.model import build_model

ROWS = {
    "3": "training step, MNIST 784-128-64-10 batch 64: backward=manual (ManualLinear) vs autograd (nn.Linear)",
    "4a": "optimizer step, SGD momentum 0.9 on the MNIST model: engine.core.optim vs torch.optim",
    "4b": "optimizer step, Adam on the MNIST model: engine.core.optim vs torch.optim",
    "5": "Inspector trace, input 32, 4×32 relu + 10 identity, CE, batch 8, float64, with numerical "
         "vs autograd forward+backward",
    "5b": "full three-way check of the MNIST network 784-128-64-10, CE, batch 8, float64: trace with finite "
          "differences of every parameter vs trace without them",
    "9b": "threads: Inspector trace (row 5), 1 thread vs 2 threads",
}
MNIST_CHECK_SECONDS = 2.0  # the target on this 2-core CPU


def trace_spec() -> NetworkSpec:
    """Row 5's network: x (8, 32) → 4 hidden layers of 32 ReLU units → 10 logits, cross-entropy, float64."""
    return NetworkSpec(32, [LayerSpec(32, "relu") for _ in range(4)] + [LayerSpec(10, "identity")],
                       loss="cross_entropy", batch=8, seed=0)


def step_row(ctx: Context) -> list[Result]:
    data = ctx.mnist()
    x, y = data.x_train, data.y_train
    steps = 20 if ctx.quick else 200
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(1))

    def loop(backward):
        cfg = row1_config(backward=backward)
        model = build_model(cfg, 784, torch.device("cpu"))
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

        def run():
            for b in range(steps):
                idx = perm[b * 64:(b + 1) * 64]
                loss = F.cross_entropy(model(x[idx]), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            return loss.item()
        return run

    t = interleaved({"manual": loop("manual"), "autograd": loop("autograd")}, ctx.repeats)
    ours, base = 1e3 * t["manual"].median / steps, 1e3 * t["autograd"].median / steps
    return [Result("3", ROWS["3"], ours, base, "ms", "≤ 1.3×", ours / base <= 1.3, noise(t["manual"], t["autograd"]),
                   f"per step (forward, loss, backward, SGD step), {steps} steps a repeat",
                   {k: v.summary() for k, v in t.items()})]


def optimizer_rows(ctx: Context) -> list[Result]:
    template = list(build_model(row1_config(), 784, torch.device("cpu")).parameters())
    iters = 20 if ctx.quick else 500
    gen = torch.Generator().manual_seed(0)
    grads = [torch.randn(p.shape, generator=gen) * 1e-2 for p in template]
    out = []
    for row, name, hyper in (("4a", "sgd", {"lr": 0.05, "momentum": 0.9}), ("4b", "adam", {"lr": 1e-3})):
        def stepper(impl, name=name, hyper=hyper):
            params = [p.detach().clone().requires_grad_(True) for p in template]
            for p, g in zip(params, grads, strict=True):
                p.grad = g.clone()
            opt = make_optimizer(name, params, impl=impl, **hyper)

            def run():
                for _ in range(iters):
                    opt.step()
            return run

        t = interleaved({"manual": stepper("manual"), "torch": stepper("torch")}, ctx.repeats)
        ours, base = 1e3 * t["manual"].median / iters, 1e3 * t["torch"].median / iters
        out.append(Result(row, ROWS[row], ours, base, "ms", "≤ 1.5×", ours / base <= 1.5,
                          noise(t["manual"], t["torch"]), f"opt.step() alone, {iters} a repeat, 6 tensors "
                          f"({sum(p.numel() for p in template):,} parameters)", {k: v.summary() for k, v in t.items()}))
    return out


def trace_row(ctx: Context) -> list[Result]:
    spec = trace_spec()
    m = materialize(spec)
    t = interleaved({"trace": lambda: trace(spec), "autograd": lambda: autograd_pass(m, spec.loss)},
                    max(ctx.repeats, 3 if ctx.quick else 11))
    ours, base = 1e3 * t["trace"].median, 1e3 * t["autograd"].median
    return [Result("5", ROWS["5"], ours, base, "ms", "trace ≤ 100 ms", ours <= 100, noise(t["trace"], t["autograd"]),
                   f"{spec.n_parameters:,} parameters; trace = manual + autograd + central differences on every "
                   "W, b, z, a, x element, kink masks", {k: v.summary() for k, v in t.items()})]


def mnist_spec(batch: int = 8) -> NetworkSpec:
    return NetworkSpec(784, [LayerSpec(128, "relu"), LayerSpec(64, "relu"), LayerSpec(10, "identity")],
                       loss="cross_entropy", batch=batch, seed=0)


def mnist_check_row(ctx: Context) -> list[Result]:
    """Row 5b: `engine inspect --input-size 784 --layers 128:relu,64:relu,10:identity --loss cross_entropy
    --batch 8` with every numerical gradient, against the same trace without finite differences."""
    spec = mnist_spec(2 if ctx.quick else 8)
    results = []
    t = interleaved({"full": lambda: results.append(trace(spec)), "no_fd": lambda: trace(spec, numerical=False)},
                    ctx.repeats)
    last = results[-1]
    cpu = time.process_time()
    trace(spec)
    cpu = time.process_time() - cpu  # this process's CPU seconds: what a busy machine's wall time hides
    covered = all(g.numerical is not None for lt in last.layers for g in lt.grads.values())
    ours, base = t["full"].median, t["no_fd"].median
    note = (f"batch {spec.batch}; CPU time of one check {cpu:.2f} s at {torch.get_num_threads()} thread(s); "
            f"{spec.n_parameters:,} parameters; every numerical gradient present: {covered}; "
            f"agree: {last.agree}" + ("; --quick: batch 2" if ctx.quick else ""))
    return [Result("5b", ROWS["5b"], ours, base, "s", f"≤ {MNIST_CHECK_SECONDS:g} s, agree",
                   ours <= MNIST_CHECK_SECONDS and covered and last.agree, noise(t["full"], t["no_fd"]), note,
                   {k: v.summary() for k, v in t.items()})]


def trace_threads_row(ctx: Context) -> list[Result]:
    spec = trace_spec()

    def at(n):
        with num_threads(n):
            trace(spec)

    t = interleaved({"1": lambda: at(1), "2": lambda: at(2)}, max(ctx.repeats, 3 if ctx.quick else 11))
    return [Result("9b", ROWS["9b"], 1e3 * t["1"].median, 1e3 * t["2"].median, "ms", "info", None,
                   noise(t["1"], t["2"]), "ours = 1 thread, baseline = 2 threads",
                   {k: v.summary() for k, v in t.items()})]


GROUPS = [(("3",), step_row), (("4a", "4b"), optimizer_rows), (("5",), trace_row), (("5b",), mnist_check_row),
          (("9b",), trace_threads_row)]
