"""Show a path the way a person can copy it: relative to the working directory or the project."""

from __future__ import annotations

from pathlib import Path

# The folder holding this package is the project root when run from a checkout (or an editable install).
PROJECT = Path(__file__).resolve().parent.parent


def shown_path(path: str | Path) -> str:
    """`path` relative to the working directory, else to the project; as given when outside both."""
    resolved = Path(path).resolve()
    for base in (Path.cwd().resolve(), PROJECT):
        try:
            return str(resolved.relative_to(base))
        except ValueError:
            continue
    return str(path)
