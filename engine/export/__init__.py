"""A network as a standalone program (torch only, no import of engine) or a notebook of the same cells:
the exact weights and data, the forward pass, the backward pass written out by hand layer by layer, autograd,
and the comparison. `export(spec, "py" | "ipynb")`; the CLI is `python -m engine export`."""
from __future__ import annotations

from engine.export.program import Cell, program
from engine.export.render import to_notebook, to_python
from engine.inspector.spec import NetworkSpec

FORMATS = {"py": to_python, "ipynb": to_notebook}


def export(spec: NetworkSpec, fmt: str) -> str:
    """The program for `spec` as text in `fmt` ("py" or "ipynb"); ValueError (one line) when it cannot be."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    return FORMATS[fmt](program(spec))


__all__ = ["Cell", "FORMATS", "export", "program", "to_notebook", "to_python"]
