"""The Inspector's work budget: what one trace of a spec costs, and the limits that keep it ~1 s and ~200 MB.

A share link is ~125 characters however big the network it names, so shapes alone do not bound the work:
4096 → 480 → 4 at batch 4096 passes every check of spec_checks' shape limits and costs 14 s and 4.4 GB.
The trace (manual forward + backward, autograd forward + backward, the comparisons) costs, with sizes
n_0 … n_L and B rows of x:

- activations  B · Σ_l n_l              z_l, a_l, δ_l, ∂L/∂a_l each kept twice (manual, autograd): memory;
- multiply-adds B · Σ_l n_{l-1} · n_l   one forward pass; the trace does ~6 of them (2 forward, 2 backward
                                        of two products each): time;
- parameters   Σ_l (n_{l-1} + 1) · n_l  W_l and b_l, their init, two gradients and their differences: memory.

Finite differences have their own budget in engine.core.numerical (skipped with a reason when over it).
"""
from __future__ import annotations

from dataclasses import dataclass

from engine.core.numerical import numerical_skip_reason

MAX_ACTIVATIONS = 2_000_000  # B · Σ n_l
MAX_MULTIPLY_ADDS = 100_000_000  # B · Σ n_{l-1} n_l: ~0.3 s for the whole trace on 2 cores
MAX_TENSOR_BYTES = 100_000_000  # the estimate below; the process's peak grows by about this much
MAX_EXPORT_NUMBERS = 100_000  # W, b, x, y written out as JSON text: ~20 bytes and ~10 µs each
MAX_TABLE_CELLS = 20_000  # the builder's x/y table editor (2 M cells took 40 s to build and send)
MAX_STEP_MULTIPLY_ADDS = 300_000_000  # steps · B · Σ n_{l-1} n_l for the Step tab (each step ~3 passes)

# measured (torch 2.13 CPU): the trace keeps ~6 copies of every activation-sized tensor (z, a, δ, ∂L/∂a,
# manual and autograd, the differences) and ~8 of every parameter-sized one (W, clones, 2 gradients, …)
ACTIVATION_COPIES = 6
PARAMETER_COPIES = 8
ITEMSIZE = {"float32": 4, "float64": 8}


@dataclass(frozen=True)
class Work:
    """What a trace of a spec costs (see the module docstring for each formula)."""
    batch: int
    widths: int  # Σ_l n_l, input included
    weights: int  # Σ_l n_{l-1} n_l
    parameters: int
    itemsize: int
    numerical_note: str | None  # why finite differences will be skipped, or None

    @property
    def activations(self) -> int:
        return self.batch * self.widths

    @property
    def multiply_adds(self) -> int:
        return self.batch * self.weights

    @property
    def tensor_bytes(self) -> int:
        return self.itemsize * (ACTIVATION_COPIES * self.activations + PARAMETER_COPIES * self.parameters)


def work_of(sizes: list[int], batch: int, dtype: str = "float64") -> Work:
    """The work of tracing a network with widths sizes = [n_0, …, n_L] on batch rows."""
    weights = sum(sizes[i] * sizes[i + 1] for i in range(len(sizes) - 1))
    return Work(batch, sum(sizes), weights, weights + sum(sizes[1:]), ITEMSIZE.get(dtype, 8),
                numerical_skip_reason(sizes, batch))


def human(n: float) -> str:
    """18_757_120 → '18.8 M'; 2_000_000 → '2 M' (a count, short enough for a one-line message)."""
    for size, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:g}"


def inspector_problem(sizes: list[int], batch: int, dtype: str = "float64") -> str | None:
    """One line naming the tightest limit the trace would break and the largest batch that fits; None if it fits."""
    w = work_of(sizes, batch, dtype)
    fixed = w.itemsize * PARAMETER_COPIES * w.parameters  # memory no batch size can lower
    if fixed > MAX_TENSOR_BYTES:
        most = MAX_TENSOR_BYTES // (w.itemsize * PARAMETER_COPIES)
        return (f"the network has {w.parameters:,} parameters; the Inspector allows {most:,} in {dtype} — "
                "use fewer or narrower layers")
    per_row = w.itemsize * ACTIVATION_COPIES * w.widths
    checks = [  # (what it is, its value, its limit, the largest batch within it)
        (f"batch {batch:,} × widths {w.widths:,} is {human(w.activations)} activations", w.activations,
         MAX_ACTIVATIONS, MAX_ACTIVATIONS // w.widths, human(MAX_ACTIVATIONS)),
        (f"batch {batch:,} × {w.weights:,} weights is {human(w.multiply_adds)} multiply-adds", w.multiply_adds,
         MAX_MULTIPLY_ADDS, MAX_MULTIPLY_ADDS // max(w.weights, 1), human(MAX_MULTIPLY_ADDS)),
        (f"batch {batch:,} needs about {w.tensor_bytes / 1e6:,.0f} MB of tensors", w.tensor_bytes,
         MAX_TENSOR_BYTES, (MAX_TENSOR_BYTES - fixed) // per_row, f"{MAX_TENSOR_BYTES / 1e6:.0f} MB"),
    ]
    over = [c for c in checks if c[1] > c[2]]
    if not over:
        return None
    what, _, _, most, allowed = min(over, key=lambda c: c[3])
    if most < 1:
        return f"{what}; the Inspector allows {allowed} — use fewer or narrower layers"
    return f"{what}; the Inspector allows {allowed} — use batch ≤ {most:,}"


def steps_problem(sizes: list[int], batch: int, steps: int) -> str | None:
    """The Step tab's budget: steps × one forward pass's multiply-adds; None when it fits."""
    per_step = batch * sum(sizes[i] * sizes[i + 1] for i in range(len(sizes) - 1))
    if steps * per_step <= MAX_STEP_MULTIPLY_ADDS:
        return None
    most = max(MAX_STEP_MULTIPLY_ADDS // max(per_step, 1), 1)
    return (f"{steps:,} steps × {human(per_step)} multiply-adds is {human(steps * per_step)}; the Inspector allows "
            f"{human(MAX_STEP_MULTIPLY_ADDS)} — use steps ≤ {most:,}")


def table_problem(rows: int, columns: int) -> str | None:
    """The x/y table editor's bound; None when the table fits."""
    if rows * columns <= MAX_TABLE_CELLS:
        return None
    return (f"the x/y table would have {rows:,} rows × {columns:,} columns = {rows * columns:,} cells; the editor "
            f"takes {MAX_TABLE_CELLS:,} — use batch ≤ {max(MAX_TABLE_CELLS // columns, 1):,} or draw x and y "
            "from the seed (or edit them in a downloaded JSON file)")
