"""`python -m engine train`: one training run from the command line (the same generator the page drives)."""
from __future__ import annotations

import argparse
import json
import sys
import time

from engine.core.spec import LAYER_SYNTAX
from engine.data.load import DATASETS
from engine.store.runs import RunStore
from engine.train.branch import BRANCHABLE, prepare_branch
from engine.train.config import BACKWARDS, LR_SCHEDULES, ConfigError, TrainConfig
from engine.train.loop import train
from engine.train.presets import TRAIN_PRESETS, describe, preset_config
from engine.train.recorder import END_KINDS, record


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def _batch(text: str):
    if text == "full":
        return "full"
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"batch size must be a whole number or 'full', got {text!r}") from None


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="train a network and store the run",
                       description="Train a fully connected network; the run goes into the run store.")
    # Settings default to SUPPRESS: an attribute exists only for a flag the user gave, so it can override a
    # --preset without the plain defaults (PLAIN_DEFAULTS) overriding it too.
    p.argument_default = argparse.SUPPRESS
    p.add_argument("--preset", choices=TRAIN_PRESETS, default=None,
                   help="start from a Train page preset; flags you give override it. "
                        + "; ".join(f"{name}: {describe(name)}" for name in TRAIN_PRESETS))
    p.add_argument("--branch-from", metavar="RUN_ID", default=None, help="continue a stored run from --at-step "
                   "with the settings given here (lr, optimizer, momentum, weight decay, betas, batch size, epochs)")
    p.add_argument("--at-step", type=int, default=None, help="with --branch-from: the parent's step to start from")
    p.add_argument("--dataset", choices=DATASETS, help="required unless --preset")
    p.add_argument("--n-samples", type=int)
    p.add_argument("--noise", type=float)
    p.add_argument("--n-classes", type=int)
    p.add_argument("--true-w", type=_floats)
    p.add_argument("--true-b", type=float)
    p.add_argument("--csv", dest="csv_path")
    p.add_argument("--target")
    p.add_argument("--no-standardize", dest="standardize", action="store_false")
    p.add_argument("--mnist-dir")
    p.add_argument("--layers", help=f"comma-separated layers: {LAYER_SYNTAX}; e.g. "
                   "128:identity,bn:relu,64:relu,drop0.2,10:identity; required unless --preset")
    p.add_argument("--loss")
    p.add_argument("--init")
    p.add_argument("--optimizer")
    p.add_argument("--impl", choices=("torch", "manual"))
    p.add_argument("--backward", choices=BACKWARDS)
    p.add_argument("--lr", type=float, help="required unless --preset")
    p.add_argument("--momentum", type=float)
    p.add_argument("--nesterov", action=argparse.BooleanOptionalAction)
    p.add_argument("--weight-decay", type=float)
    p.add_argument("--betas", type=_floats)
    p.add_argument("--batch-size", type=_batch)
    p.add_argument("--epochs", type=int)
    p.add_argument("--lr-schedule", choices=LR_SCHEDULES,
                   help="constant (plain default), or cosine: η·(1 + cos(π t/T))/2 over all T steps")
    p.add_argument("--val-fraction", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--device")
    p.add_argument("--max-steps", type=int, help="stop after this many steps (a quick dry run)")
    p.add_argument("--name", help="a name for the stored run")
    p.argument_default = None
    store = p.add_mutually_exclusive_group()
    store.add_argument("--store", help="the run store's SQLite file (default: BACKPROP_LAB_STORE or .backprop-lab)")
    store.add_argument("--no-store", action="store_true", help="do not store the run")
    p.add_argument("--dump-params", action="store_true", help="include the final weights in the --json output")
    p.add_argument("--json", action="store_true", help="print one JSON object at the end")
    p.set_defaults(run=run)


_CONFIG_ARGS = ("dataset", "n_samples", "noise", "n_classes", "true_w", "true_b", "csv_path", "target", "standardize",
                "mnist_dir", "layers", "loss", "init", "optimizer", "impl", "backward", "lr", "momentum", "nesterov",
                "weight_decay", "betas", "batch_size", "epochs", "lr_schedule", "val_fraction", "seed", "device",
                "max_steps", "name")


PLAIN_DEFAULTS = {"n_samples": 1000, "noise": 0.1, "true_w": (2.0, -3.4), "true_b": 4.2, "loss": "cross_entropy",
                  "init": "kaiming", "optimizer": "sgd", "impl": "torch", "backward": "fused", "momentum": 0.0,
                  "nesterov": False, "weight_decay": 0.0, "betas": (0.9, 0.999), "batch_size": 32, "epochs": 10,
                  "val_fraction": 0.2, "seed": 0, "device": "auto"}  # without --preset
_REQUIRED = ("dataset", "layers", "lr")  # without --preset


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The preset (or PLAIN_DEFAULTS), then every setting the user gave on top."""
    given = {k: getattr(args, k) for k in _CONFIG_ARGS if hasattr(args, k)}
    if args.preset:
        return preset_config(args.preset, **given)
    missing = [f"--{k.replace('_', '-')}" for k in _REQUIRED if k not in given]
    if missing:
        raise ConfigError(f"{', '.join(missing)} required (or start from --preset "
                       f"{'|'.join(TRAIN_PRESETS)})")
    return TrainConfig(**{**PLAIN_DEFAULTS, **given}).check()


def run(args: argparse.Namespace) -> int:
    if args.branch_from is not None:
        return _run_branch(args)
    if args.at_step is not None:
        raise ValueError("--at-step goes with --branch-from RUN_ID")
    cfg = config_from_args(args)
    return _train(args, cfg, train(cfg))


def _branch_changes(args: argparse.Namespace) -> dict:
    """The settings given on the command line (flags default to SUPPRESS); only BRANCHABLE ones may be."""
    if args.at_step is None:
        raise ValueError("--branch-from needs --at-step T (the parent's step to start from)")
    given = {k: getattr(args, k) for k in _CONFIG_ARGS if hasattr(args, k)}
    fixed = [k for k in given if k not in BRANCHABLE]
    if fixed or args.preset:
        flag = "preset" if args.preset else fixed[0].replace("_", "-")
        raise ValueError(f"--branch-from keeps the parent's data and model; drop --{flag}")
    return given


def _run_branch(args: argparse.Namespace) -> int:
    store, _ = _open_store(args)
    if store is None:
        raise ValueError("--branch-from reads the parent from the run store; drop --no-store")
    b = prepare_branch(store, args.branch_from, args.at_step, _branch_changes(args))
    if not args.json:
        print(b.note, flush=True)
    events = train(b.cfg, data=b.data, resume=b.state)
    return _train(args, b.cfg, events, parent=(b.parent_id, b.step),
                  extra={"parent_id": b.parent_id, "branch_step": b.step, "optimizer_state": b.optimizer_state})


def _train(args: argparse.Namespace, cfg: TrainConfig, events, *, parent=None, extra: dict | None = None) -> int:
    store, reason = _open_store(args)
    result = {"run_id": None, "status": None, "device": None, "path": None, "config": cfg.to_dict(), "epochs": [],
              "test_accuracy": None, "message": None, "stored": store is not None, "not_stored_reason": reason,
              **(extra or {})}
    progress = _Progress(enabled=not args.json)
    for ev in record(events, store, cfg, name=cfg.name, parent=parent):
        if ev.data.get("store_error") and result["stored"]:  # the run trains on; the store says why it stopped
            result.update(stored=False, not_stored_reason=ev.data["store_error"])
            progress.store_failed(ev.kind, ev.data["store_error"])
        if ev.kind == "start":
            result.update(run_id=ev.data["run_id"], device=ev.data["device"], path=ev.data["path"])
            progress.begin(ev.data, cfg, result["not_stored_reason"])
        elif ev.kind == "step":
            progress.update(ev.data["step"])
        elif ev.kind == "epoch":
            row = {k: ev.data[k] for k in ("epoch", "train_loss", "val_loss", "val_accuracy", "seconds")}
            result["epochs"].append(row)
            progress.epoch(row)
        elif ev.kind in END_KINDS:
            result.update(status=ev.kind, message=ev.data["message"], test_accuracy=ev.data.get("test_accuracy"))
            if args.dump_params:
                result["parameters"] = _parameters(ev.data["model"])
    progress.end(result)
    if args.json:
        print(json.dumps(result))
    return 0 if result["status"] in ("finished", "stopped") else 1


def _open_store(args: argparse.Namespace) -> tuple[RunStore | None, str | None]:
    """The run store, or None and why not. A bad store path is an error (exit 2) before training; a store
    that is busy later (locked by another writer) only stops the recording: the recorder says so."""
    if args.no_store:
        return None, "--no-store"
    return RunStore(args.store), None


def _parameters(model) -> dict:
    return {"layers": [{"weight": lin.weight.detach().cpu().tolist(), "bias": lin.bias.detach().cpu().tolist()}
                       for lin in model.linears]}


class _Progress:
    """A text progress bar on stderr and one line per epoch on stdout (off with --json)."""

    def __init__(self, enabled: bool):
        self.enabled, self.total, self.t0 = enabled, 1, time.perf_counter()

    def begin(self, data: dict, cfg: TrainConfig, not_stored: str | None) -> None:
        self.total = data["steps_per_epoch"] * cfg.epochs
        if cfg.max_steps:
            self.total = min(self.total, cfg.max_steps)
        if self.enabled:
            why = "" if not_stored in (None, "--no-store") else f": {not_stored}"
            run = data.get("run_id") or f"(not stored{why})"
            print(f"run {run} on {data['device']}: {data['n_train']} train rows, "
                  f"{data['n_parameters']:,} parameters, {self.total} steps; {data['path']}", flush=True)

    def store_failed(self, kind: str, reason: str) -> None:
        if self.enabled and kind != "start":  # at start, begin() says it
            print(f"warning: recording stopped ({reason}); training continues", file=sys.stderr, flush=True)

    def update(self, step: int) -> None:
        if not self.enabled or not sys.stderr.isatty():
            return
        frac = min(step / self.total, 1.0)
        elapsed = time.perf_counter() - self.t0
        eta = elapsed / frac - elapsed if frac > 0 else 0.0
        bar = "#" * int(30 * frac)
        print(f"\r[{bar:<30}] {step}/{self.total} steps  eta {eta:5.1f}s", end="", file=sys.stderr, flush=True)

    def epoch(self, row: dict) -> None:
        if not self.enabled:
            return
        if sys.stderr.isatty():
            print("\r" + " " * 70 + "\r", end="", file=sys.stderr)
        acc = f"  val_acc {row['val_accuracy']:.4f}" if row["val_accuracy"] is not None else ""
        val = f"  val_loss {row['val_loss']:.6f}" if row["val_loss"] is not None else ""
        print(f"epoch {row['epoch']:3d}  train_loss {row['train_loss']:.6f}{val}{acc}  ({row['seconds']:.2f}s)",
              flush=True)

    def end(self, result: dict) -> None:
        if self.enabled:
            test = f"  test_accuracy {result['test_accuracy']:.4f}" if result["test_accuracy"] is not None else ""
            print(f"{result['status']}: {result['message']}{test}", flush=True)
