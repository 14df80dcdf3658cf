"""Read a pipeline file and point at places in it: `file:line:col` for any key path.

Loading keeps the node tree libyaml composes anyway (it carries the marks), so locating a problem
costs nothing on the happy path: a key path like ("tables", 3, "source") is walked down the tree
only when there is something to report. Lines and columns are 1-based, like editors show.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

# libyaml when present (it is in the Airflow image); the pure-Python loader gives the same result.
_Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):  # type: ignore[misc, valid-type]
    """Safe loader that also notes keys given twice in one mapping (YAML keeps the last silently)."""

    def __init__(self, stream):
        super().__init__(stream)
        self.duplicates: list[tuple[Any, Any, int]] = []  # (key, mark of the repeat, first line)

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key, _ in node.value:
                if key.value in seen:
                    self.duplicates.append((key.value, key.start_mark, seen[key.value]))
                else:
                    seen[key.value] = key.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong in a pipeline file, printed as `path:line:col: message`."""

    path: str
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}: {self.message}"


class PipelineError(ValueError):
    """A pipeline file is invalid; the message holds one `path:line:col: message` line per problem."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def display_path(path: Path) -> str:
    """The path as a person typed it: relative to the working directory when it is below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


class Document:
    """A pipeline file's text, its data, and (lazily) its node tree for locating problems."""

    def __init__(self, path: Path, text: str, shown_as: str | None = None):
        self.path = path
        self.shown_as = shown_as or display_path(path)
        self.text = text
        self._root: yaml.Node | None = None
        self.duplicates: list[Problem] = []

    def load(self) -> Any:
        """Parse the text, keeping the node tree (it has the marks); syntax errors become Problems."""
        loader = _Loader(self.text)
        try:
            self._root = loader.get_single_node()
            data = loader.construct_document(self._root) if self._root is not None else None
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
            message = f"YAML syntax error: {exc.problem}"
            if exc.context and exc.context_mark is not None:  # where the unfinished construct began
                message += f" ({exc.context} started on line {exc.context_mark.line + 1})"
            raise PipelineError([Problem(self.shown_as, line, col, message)]) from None
        finally:
            loader.dispose()
        self.duplicates = [
            Problem(self.shown_as, mark.line + 1, mark.column + 1, f"key {key!r} is given twice (first on line {first})")
            for key, mark, first in loader.duplicates
        ]
        return data

    def root(self) -> yaml.Node | None:
        return self._root

    def problem(self, loc: tuple, message: str, *, at_key: bool = False) -> Problem:
        """A Problem at the node for `loc` (keys and list indexes); at its key when `at_key`.

        A path that does not exist (a missing key) points at the deepest mapping that does.
        """
        node = self._root
        key_node = None
        for part in loc:
            child = _child(node, part)
            if child is None:
                break
            key_node, node = child
        target = key_node if at_key and key_node is not None else node
        mark = target.start_mark if target is not None else None
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        return Problem(self.shown_as, line, col, message)


def _child(node: yaml.Node, part: Any) -> tuple[yaml.Node, yaml.Node] | None:
    if isinstance(node, yaml.MappingNode) and isinstance(part, str):
        for key, value in reversed(node.value):  # the last one wins, as when loading
            if key.value == part:
                return key, value
    elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        item = node.value[part]
        return item, item
    return None
