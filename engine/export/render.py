"""The program's cells as a Python script or as a Jupyter notebook (nbformat 4.5): the same code either way,
with the notes as comments in the script and as markdown (the equations in LaTeX) in the notebook."""
from __future__ import annotations

import json
import textwrap

from engine.export.program import Cell


def to_python(cells: list[Cell]) -> str:
    """The first cell's notes become the module docstring; each later cell is a commented section (its equations
    are the code's own comments there; the notebook shows them in LaTeX)."""
    head, *rest = cells
    parts = ['"""' + "\n\n".join(head.notes) + '\n"""\n' + head.code + "\n"]
    for cell in rest:
        comments = [f"# ---- {cell.title} ----"]
        comments += [f"# {line}" for note in cell.notes for line in textwrap.wrap(note, 110)]
        parts.append("\n".join(comments) + "\n" + cell.code + "\n")
    return "\n\n".join(parts)


def _paragraph(note: str) -> str:
    """A note as markdown: indented continuation lines are preformatted (a fenced block), the rest one paragraph."""
    if any(line.startswith(" ") for line in note.splitlines()[1:]):
        return f"```text\n{note}\n```"
    return " ".join(note.split())


def _markdown(cell: Cell, level: str) -> str:
    text = [f"{level} {cell.title}"]
    captions = {caption for caption, _ in cell.equations}
    text += [_paragraph(note) for note in cell.notes if note not in captions]  # said once, above its equation
    text += [f"{caption}:\n$$ {latex} $$" for caption, latex in cell.equations]
    return "\n\n".join(text)


def to_notebook(cells: list[Cell]) -> str:
    """nbformat 4.5 JSON: per cell a markdown cell (title, notes, equations) then its code cell."""
    out = []
    for i, cell in enumerate(cells):
        out.append({"cell_type": "markdown", "id": f"md-{i}", "metadata": {},
                    "source": _markdown(cell, "#" if i == 0 else "##")})
        out.append({"cell_type": "code", "execution_count": None, "id": f"code-{i}", "metadata": {},
                    "outputs": [], "source": cell.code})
    notebook = {"cells": out, "nbformat": 4, "nbformat_minor": 5,
                "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                             "language_info": {"name": "python"}}}
    return json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"
