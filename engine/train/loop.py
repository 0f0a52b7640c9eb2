"""The training loop as a generator of events, so the page, the CLI, the sweeps and the tests drive one code path.

Events (Event.kind → data):
  start      {device, n_train, n_val, n_parameters, steps_per_epoch, model, dataset, path}
             path: how each step computes its gradients, in words ("fused step (…)", or "autograd (why)")
  step       {step, epoch, wall, loss}             step 0 (the untrained loss, see _untrained_loss), every
                                                   step up to DENSE_STEPS, then every cfg.log_every steps
  layers     {step, epoch, rows: [per-layer stats]} at steps 1, 1 + stats_every, … and the run's last step;
                                                   stats_every None: as often as costs ≤ 5 % of the run
                                                   and ≤ ~5 000 records (health.StatsCadence)
  epoch      {epoch, train_loss, train_accuracy, val_loss, val_accuracy, seconds, wall, state}
  histograms {epoch, rows: [{layer, kind, counts, edges}]}
  checkpoint {step, epoch, offset, blob}            at the first step and every k-th epoch (engine/train/checkpoints.py)
  finished | diverged | stopped   {step, epoch, message, test_accuracy, confusion, misclassified, model}

The hot loop keeps the data on the device, copies it once per epoch in the order of a seeded permutation
and takes each batch as a contiguous slice of that copy; with backward="fused" a step is engine/train/fused.py
(our chain rule, no autograd) and torch.optim's fused update where it has one. Per-step losses stay on
the device: the host only synchronises every log_every steps (the dense early steps come out of the same
syncs). A run diverges when a loss is inf/NaN or grows past
DIVERGE_GROWTH × its untrained loss (and past DIVERGE_FLOOR, so a tiny start cannot trip it).
"""
from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch

from engine.core.optim import make_optimizer
from engine.data import Dataset
from engine.data.load import load_dataset
from engine.train import checkpoints, health
from engine.train.config import TrainConfig
from engine.train.device import pick_device
from engine.train.evaluate import evaluate, test_report
from engine.train.fused import FusedStep, GraphedStep, fused_problem, graph_problem
from engine.train.model import build_model, check_fit, loss_fn, predictions, targets
from engine.train.update import make_update

DENSE_STEPS = 50  # every step's loss is logged up to here: the start of a curve is where most happens
DIVERGE_GROWTH = 1e4  # a loss this many times its untrained value has blown up, not learned
DIVERGE_FLOOR = 100.0  # …and at least this large: 1e-6 → 1e-2 is not a divergence
UNTRAINED_ROWS = 2048  # step 0's loss uses at most this many evenly spaced training rows (one forward chunk)


@dataclass
class Event:
    kind: str
    data: dict = field(default_factory=dict)


def load_data(cfg: TrainConfig) -> Dataset:
    return load_dataset(cfg.dataset, n_samples=cfg.n_samples, noise=cfg.noise, n_classes=cfg.n_classes,
                        true_w=cfg.true_w, true_b=cfg.true_b, csv_path=cfg.csv_path, target=cfg.target,
                        standardize=cfg.standardize, mnist_dir=cfg.mnist_dir, val_fraction=cfg.val_fraction,
                        seed=cfg.seed)


class _Run:
    """The state of one run: model, optimizer, device tensors, counters."""

    def __init__(self, cfg: TrainConfig, data: Dataset):
        self.cfg, self.data = cfg, data
        self.device = pick_device(cfg.device)
        check_fit(cfg, data)
        self.model = build_model(cfg, data.input_size, self.device)
        self.opt = _optimizer(cfg, self.model)
        self.update = make_update(self.opt)  # opt.step(), or its fused kernel called directly (update.py)
        self.loss = loss_fn(cfg.loss)
        pin = self.device.type == "cuda"
        self.x = _to(data.x_train, self.device, pin)
        self.labels = _to(data.y_train, self.device, pin)  # class indices (accuracy) or regression values
        self.t = targets(cfg, data, self.labels)  # what the loss compares against
        self.classify = data.task == "classification"
        n = len(self.x)
        self.batch = n if cfg.batch_size == "full" else min(int(cfg.batch_size), n)
        self.n_batches = math.ceil(n / self.batch)
        # where a batch's rows of x are gathered (see _Batches): measured on the CPU, a gather into one reused
        # batch buffer costs what slicing a per-epoch shuffled copy does, without a second copy of x in memory
        # (188 MB for MNIST); on CUDA the per-epoch copy saves a kernel launch per step
        on_gpu = self.device.type == "cuda"
        self.x_buffer = torch.empty_like(self.x) if on_gpu else self.x.new_empty((self.batch, *self.x.shape[1:]))
        self.fused, self.path = _step_path(cfg, self.model, self.batch)
        self.graphed = None  # the fused step and SGD's update as one CUDA graph (engine/train/fused.py)
        if self.fused is not None and graph_problem(cfg, self.device, self.batch) is None:
            self.graphed = GraphedStep(self.fused, self.opt, self.x, self.t, self.batch)
            self.path += ", replayed as a CUDA graph"
        self.schedule = (torch.optim.lr_scheduler.CosineAnnealingLR(self.opt, T_max=cfg.epochs * self.n_batches)
                         if cfg.lr_schedule == "cosine" else None)  # stepped after every optimizer step
        # the batch order has its own generator: runs that differ only in optimizer see the same batches
        self.order = torch.Generator().manual_seed(cfg.seed + 1)
        self.step, self.start = 0, time.perf_counter()
        # where in the batch order we are: rows of the current epoch's permutation consumed, and the
        # generator state that permutation was drawn from (what a checkpoint needs to resume mid-epoch)
        self.rows_done, self.order_state = 0, self.order.get_state()
        self.epoch_batches = self.n_batches  # batches of the epoch in progress (fewer in a resumed one)
        self.pending_stats: list[tuple[int, int, torch.Tensor]] = []  # (step, epoch, (L, 10) device table)

    def restore(self, state: dict) -> int:
        """Continue from a checkpoint state (engine/train/checkpoints.py); returns the epoch to run first.
        state["optimizer"] None: a fresh optimizer (a branch that changed it). The hyperparameters are
        this config's either way (a branch may change lr, weight decay, …), except a scheduled lr."""
        self.model.load_state_dict(state["model"])
        if state.get("optimizer") is not None:
            self.opt.load_state_dict(state["optimizer"])
            hyper = self.cfg.optimizer_hyper()
            if self.schedule is not None and state.get("schedule") is not None:
                self.schedule.load_state_dict(state["schedule"])
                hyper.pop("lr")  # the schedule's lr at this step came with the optimizer state
            for group in self.opt.param_groups:
                group.update(hyper)
        self.order.set_state(state["order"])
        if state.get("masks") is not None and hasattr(self.model, "masks"):  # (older checkpoints have none)
            self.model.masks.set_state(state["masks"])
        self.order_state, self.rows_done, self.step = state["order"], int(state["offset"]), int(state["step"])
        return int(state["epoch"])

    def position(self, epoch: int) -> dict:
        """The batch-order position after the last step of `epoch` (the next epoch's start if it is done), and
        the dropout mask generator's state after that step."""
        masks = {"masks": self.model.masks.get_state()} if hasattr(self.model, "masks") else {}
        if self.rows_done >= len(self.x):
            return {"step": self.step, "epoch": epoch + 1, "offset": 0, "order": self.order.get_state(), **masks}
        return {"step": self.step, "epoch": epoch, "offset": self.rows_done, "order": self.order_state, **masks}

    def state(self, epoch: int) -> dict:
        """Everything a resumed run needs: position, weights, optimizer and schedule state (references)."""
        return {**self.position(epoch), "model": self.model.state_dict(), "optimizer": self.opt.state_dict(),
                "schedule": self.schedule.state_dict() if self.schedule is not None else None}

    def wall(self) -> float:
        return time.perf_counter() - self.start


def _optimizer(cfg: TrainConfig, model) -> torch.optim.Optimizer:
    """torch.optim's fused kernel where it has one for this optimizer and device (one pass over each
    parameter instead of a Python loop of small ops; same update rule), its default otherwise."""
    hyper = cfg.optimizer_hyper()
    if cfg.impl == "torch":
        try:
            return make_optimizer(cfg.optimizer, model.parameters(), impl="torch", fused=True, **hyper)
        except (RuntimeError, TypeError, ValueError):  # no fused kernel for this optimizer or device
            pass
    return make_optimizer(cfg.optimizer, model.parameters(), impl=cfg.impl, **hyper)


def _step_path(cfg: TrainConfig, model, batch: int) -> tuple[FusedStep | None, str]:
    """The fused step when asked for and the model allows it, and the path in words (the start event's "path")."""
    if cfg.backward != "fused":
        return None, {"autograd": "autograd", "manual": "autograd with the hand-written backward"}[cfg.backward]
    problem = fused_problem(model, cfg.loss)
    if problem is not None:
        return None, f"autograd ({problem})"
    return FusedStep(model, cfg.loss, batch), "fused step (hand-derived backward, no autograd)"


def _to(t: torch.Tensor, device: torch.device, pin: bool) -> torch.Tensor:
    """One bulk copy to the device; pinned host memory lets it run as a DMA transfer on CUDA."""
    if t.device == device:
        return t
    return (t.pin_memory() if pin and t.device.type == "cpu" else t).to(device, non_blocking=pin)


def train(cfg: TrainConfig, *, stop: threading.Event | None = None, data: Dataset | None = None,
          snapshots: bool = False, resume: dict | None = None) -> Iterator[Event]:
    """Run cfg; yield events until finished, diverged or stopped. snapshots=True adds a CPU copy of the
    weights to every epoch event (for decision boundaries and learned-vs-true parameters). resume: a
    checkpoint state to continue from (replay, branches); the steps keep counting from its step."""
    cfg.check()
    run = _Run(cfg, data if data is not None else load_data(cfg))
    if resume is not None:  # the divergence threshold stays the one of the seeded init, as in the parent
        run.loss0 = _untrained_loss(run)
    first = run.restore(resume) if resume is not None else 1
    total = min(cfg.max_steps or math.inf, run.n_batches * cfg.epochs) - run.step
    run.cadence = health.StatsCadence(cfg.stats_every, int(total))
    yield Event("start", {"device": str(run.device), "n_train": len(run.x), "n_val": len(run.data.x_val),
                          "n_parameters": sum(p.numel() for p in run.model.parameters()),
                          "steps_per_epoch": run.n_batches, "model": run.model, "dataset": run.data,
                          "path": run.path})
    if resume is None:
        run.loss0 = _untrained_loss(run)
        if math.isfinite(run.loss0):
            yield Event("step", {"step": 0, "epoch": 1, "wall": run.wall(), "loss": run.loss0})
    blob = checkpoints.to_bytes(run.state(first))
    stride = checkpoints.stride_epochs(len(blob), cfg.epochs)
    if stride is not None:
        yield Event("checkpoint", {"step": run.step, "epoch": first, "offset": run.rows_done, "blob": blob})
    for epoch in range(first, cfg.epochs + 1):
        end = yield from _epoch(run, epoch, stop)
        if end is not None:
            yield end
            return
        yield _epoch_event(run, epoch, snapshots)
        yield Event("histograms", {"epoch": epoch, "rows": health.histograms(run.model)})
        if stride is not None and epoch % stride == 0 and epoch < cfg.epochs:
            state = run.state(epoch)
            yield Event("checkpoint", {**{k: state[k] for k in ("step", "epoch", "offset")},
                                       "blob": checkpoints.to_bytes(state)})
        if cfg.max_steps and run.step >= cfg.max_steps:
            break
    yield _final(run, "finished", "training finished", epoch)


def _untrained_loss(run: _Run) -> float:
    """The loss before any update on every k-th training row, k = ⌈n / UNTRAINED_ROWS⌉: all rows of the
    small sets, an even spread of MNIST's (one forward chunk, not a pass over 60 000 rows)."""
    x, y = run.data.x_train, run.data.y_train
    k = max(1, math.ceil(len(x) / UNTRAINED_ROWS))
    return evaluate(run, x[::k], y[::k])["loss"]


def _epoch(run: _Run, epoch: int, stop) -> Iterator[Event]:
    """One pass over the training set. Returns an end Event (diverged / stopped) or None."""
    cfg, model = run.cfg, run.model
    run.epoch_start = time.perf_counter()
    offset = run.rows_done if run.rows_done < len(run.x) else 0  # > 0 only in a run resumed mid-epoch
    run.order_state = run.order.get_state()
    perm = torch.randperm(len(run.x), generator=run.order)[offset:].to(run.device)
    n_batches = run.epoch_batches = math.ceil(len(perm) / run.batch)
    batches = _Batches(run, perm)
    # per-step results stay on the device as a list of tensors: stacked only when the host reads them
    run.losses, run.hits = [], []
    synced = 0  # batches of this epoch whose losses the host has seen
    for b in range(n_batches):
        rows = slice(b * run.batch, (b + 1) * run.batch)
        run.rows_done = min(offset + (b + 1) * run.batch, len(run.x))
        xb, yb, tb = batches(rows)
        record = run.cadence.due(run.step) or _is_last_step(run, epoch, b)
        if run.graphed is not None and not record and len(xb) == run.batch:
            loss, out = run.graphed(xb, tb)  # forward, backward and the update: one CUDA graph replay
        else:
            loss, out, zs = _forward_backward(run, xb, tb, record)
            if record:
                t0 = time.perf_counter()
                pre = health.pre_step_stats(model, zs, _outputs(model, zs))
                spent = time.perf_counter() - t0
            run.update()
        if run.schedule is not None:
            run.schedule.step()
        run.losses.append(loss.detach())  # train_loss: each batch's loss before its own step
        if run.classify:
            run.hits.append(predictions(out.detach()) == yb)
        run.step += 1
        if record:  # stays on the device until the next loss sync reads it (no host sync per stats step)
            t0 = time.perf_counter()
            run.pending_stats.append((run.step, epoch, health.post_step_stats(model, *pre)))
            run.cadence.recorded(run.step - 1, spent + time.perf_counter() - t0)
        last = b == n_batches - 1
        if run.step % cfg.log_every == 0 or last or (cfg.max_steps and run.step >= cfg.max_steps):
            end = yield from _sync_losses(run, epoch, synced, b + 1)
            synced = b + 1
            if end is not None:
                return end
        if stop is not None and stop.is_set():
            yield from _flush_stats(run)
            return _final(run, "stopped", f"stopped by request after step {run.step}", epoch)
        if cfg.max_steps and run.step >= cfg.max_steps:
            run.n_done = b + 1
            return None
    run.n_done = n_batches
    return None


class _Batches:
    """One epoch's batches in the order of perm: (x rows, labels, targets) for a slice of positions.
    Labels and targets are gathered once per epoch (small); x either once per epoch into the run's
    epoch-sized buffer (batches are then views), or per batch into its batch-sized buffer."""

    def __init__(self, run: _Run, perm: torch.Tensor):
        self.run, self.perm = run, perm
        self.labels = run.labels[perm]
        self.targets = self.labels if run.t is run.labels else run.t[perm]
        self.epoch_copy = len(run.x_buffer) == len(run.x) and len(run.x) > run.batch
        if self.epoch_copy:
            self.x = torch.index_select(run.x, 0, perm, out=run.x_buffer[:len(perm)])

    def __call__(self, rows: slice) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if self.epoch_copy:
            xb = self.x[rows]
        else:
            idx = self.perm[rows]
            xb = torch.index_select(self.run.x, 0, idx, out=self.run.x_buffer[:len(idx)])
        return xb, self.labels[rows], self.targets[rows]


def _forward_backward(run: _Run, xb: torch.Tensor, tb: torch.Tensor, record: bool):
    """(loss, output, [z_l] when record else None), with every parameter's .grad set for this batch."""
    if run.fused is not None:
        loss, out, zs = run.fused(xb, tb)
        return loss, out, zs if record else None
    out, zs = run.model(xb, record=True) if record else (run.model(xb), None)
    loss = run.loss(out, tb)
    run.opt.zero_grad(set_to_none=True)
    loss.backward()
    return loss, out, zs


def _is_last_step(run: _Run, epoch: int, b: int) -> bool:
    """The run's final step (so the health charts reach the end); a stop request cannot be foreseen."""
    cfg = run.cfg
    return (epoch == cfg.epochs and b == run.epoch_batches - 1) or bool(cfg.max_steps and run.step + 1 >= cfg.max_steps)


def _diverged(run: _Run, v: float) -> bool:
    """inf/NaN, or DIVERGE_GROWTH × the untrained loss and above DIVERGE_FLOOR (no growth rule when the
    untrained loss itself is not finite)."""
    if not math.isfinite(v):
        return True
    return math.isfinite(run.loss0) and v > DIVERGE_GROWTH * run.loss0 and v > DIVERGE_FLOOR


def _outputs(model, zs):
    """a_l = φ_l(z_l) for the recorded z's (cheap: only on stats steps)."""
    with torch.no_grad():
        return [act(z) for act, z in zip(model.acts, zs, strict=True)]


def _sync_losses(run: _Run, epoch: int, lo: int, hi: int) -> Iterator[Event]:
    """Copy losses[lo:hi] to the host once; emit step events (every step up to DENSE_STEPS, then every
    log_every); at the first diverged loss emit the curve up to it (the value itself when finite) and end."""
    values = torch.stack(run.losses[lo:hi]).tolist()
    first_step = run.step - (hi - lo) + 1
    every = run.cfg.log_every
    blown = next((first_step + i for i, v in enumerate(values) if _diverged(run, v)), None)
    yield from _flush_stats(run, before=blown)  # never emit stats rows from a diverged step on
    for i, v in enumerate(values):
        step = first_step + i
        if _diverged(run, v):
            if math.isfinite(v):
                yield Event("step", {"step": step, "epoch": epoch, "wall": run.wall(), "loss": v})
            return _final(run, "diverged", _divergence_message(run, v, step, epoch), epoch, step=step)
        if step <= DENSE_STEPS or step % every == 0 or i == len(values) - 1:
            yield Event("step", {"step": step, "epoch": epoch, "wall": run.wall(), "loss": v})
    return None


def _flush_stats(run: _Run, before: int | None = None) -> Iterator[Event]:
    """One `layers` event per buffered stats step (< before, when given), read with one host sync."""
    keep = [p for p in run.pending_stats if before is None or p[0] < before]
    run.pending_stats = []
    if not keep:
        return
    tables = torch.stack([table for _, _, table in keep]).tolist()
    for (step, epoch, _), table in zip(keep, tables, strict=True):
        yield Event("layers", {"step": step, "epoch": epoch, "rows": health.stats_rows(table, step, epoch)})


def _divergence_message(run: _Run, v: float, step: int, epoch: int) -> str:
    grew = f" ({v / run.loss0:.1e} × the untrained loss {run.loss0:.3g})" if math.isfinite(v) and run.loss0 > 0 else ""
    return (f"loss became {v:.3g}{grew} at step {step} (epoch {epoch}): the run diverged; "
            f"try a smaller learning rate than {run.cfg.lr:g}")


def _epoch_event(run: _Run, epoch: int, snapshots: bool) -> Event:
    n_done = getattr(run, "n_done", run.n_batches)
    train_loss = torch.stack(run.losses[:n_done]).mean().item()
    data = {"epoch": epoch, "step": run.step, "train_loss": train_loss,
            "train_accuracy": torch.cat(run.hits).float().mean().item() if run.classify else None,
            "seconds": time.perf_counter() - run.epoch_start}
    val = evaluate(run, run.data.x_val, run.data.y_val)
    data.update({"val_loss": val["loss"], "val_accuracy": val["accuracy"], "wall": run.wall()})
    if snapshots:
        data["state"] = {k: v.detach().to("cpu", copy=True) for k, v in run.model.state_dict().items()}
    return Event("epoch", data)


def _final(run: _Run, status: str, message: str, epoch: int | None = None, step: int | None = None) -> Event:
    data = {"status": status, "message": message, "step": step or run.step, "epoch": epoch, "wall": run.wall(),
            "model": run.model, "optimizer": run.opt, "position": run.position(epoch or 1), "test_accuracy": None,
            "schedule": run.schedule.state_dict() if run.schedule is not None else None}
    if status != "diverged":
        data.update(test_report(run))
    return Event(status, data)
