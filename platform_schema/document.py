"""Read a YAML file and point at places in it: `file:line:col` for any key path.

Loading keeps the node tree libyaml composes anyway (it carries the marks), so locating a problem
costs nothing on the happy path: a key path like ("tables", 3, "source") is walked down the tree
only when there is something to report. Lines and columns are 1-based, like editors show.
A file that is not UTF-8 text, cannot be read, or is not YAML raises `DocumentError` with one
`Problem`; keys given twice are collected in `duplicates` (YAML would keep the last silently).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from platform_schema.paths import shown_path

# libyaml when present (it is in the Airflow image); the pure-Python loader gives the same result.
_Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong in a file, printed as `path:line:col: message`."""

    path: str
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}: {self.message}"


class DocumentError(ValueError):
    """The file cannot be read as YAML text; `problem` says where and why."""

    def __init__(self, problem: Problem):
        self.problem = problem
        super().__init__(str(problem))


class _Loader(_Base):  # type: ignore[misc, valid-type]
    """Safe loader that also notes keys given twice in one mapping."""

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


def _line_col(data: bytes, offset: int) -> tuple[int, int]:
    line = data.count(b"\n", 0, offset) + 1
    return line, offset - (data.rfind(b"\n", 0, offset) + 1) + 1


def read_text(path: Path, shown_as: str | None = None) -> str:
    """The file's text; DocumentError when it cannot be read or is not UTF-8 text (binary, NUL bytes)."""
    shown = shown_as or shown_path(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise DocumentError(Problem(shown, 1, 1, f"cannot read the file: {exc.strerror or exc}")) from None
    nul = data.find(b"\0")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        where = exc.start if nul < 0 else min(nul, exc.start)
        raise DocumentError(Problem(shown, *_line_col(data, where), _NOT_TEXT)) from None
    if nul >= 0:
        raise DocumentError(Problem(shown, *_line_col(data, nul), _NOT_TEXT))
    return text


_NOT_TEXT = "not a text file (binary data or not UTF-8): save it as UTF-8 YAML text"


class Document:
    """A YAML file's text, its data, and (lazily) its node tree for locating problems."""

    def __init__(self, path: Path, text: str | None = None, shown_as: str | None = None):
        self.path = Path(path)
        self.shown_as = shown_as or shown_path(path)
        self.text = read_text(self.path, self.shown_as) if text is None else text
        self._root: yaml.Node | None = None
        self.duplicates: list[Problem] = []

    def load(self) -> Any:
        """Parse the text, keeping the node tree (it has the marks); syntax errors raise DocumentError."""
        try:
            loader = _Loader(self.text)
        except yaml.YAMLError as exc:  # the pure-Python reader checks characters on creation
            raise DocumentError(self._syntax_problem(exc)) from None
        try:
            self._root = loader.get_single_node()
            data = loader.construct_document(self._root) if self._root is not None else None
        except yaml.YAMLError as exc:
            raise DocumentError(self._syntax_problem(exc)) from None
        finally:
            loader.dispose()
        self.duplicates = [
            Problem(self.shown_as, mark.line + 1, mark.column + 1, f"key {key!r} is given twice (first on line {first})")
            for key, mark, first in loader.duplicates
        ]
        return data

    def _syntax_problem(self, exc: yaml.YAMLError) -> Problem:
        if isinstance(exc, yaml.reader.ReaderError):  # a control character YAML does not allow
            line, col = _line_col(self.text.encode(), len(self.text[: exc.position].encode()))
            return Problem(self.shown_as, line, col, f"{_NOT_TEXT} (character {exc.character!r})")
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = f"YAML syntax error: {getattr(exc, 'problem', None) or exc}"
        context, context_mark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
        if context and context_mark is not None:  # where the unfinished construct began
            message += f" ({context} started on line {context_mark.line + 1})"
        return Problem(self.shown_as, line, col, message)

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


def _child(node: yaml.Node | None, part: Any) -> tuple[yaml.Node, yaml.Node] | None:
    if isinstance(node, yaml.MappingNode) and isinstance(part, str):
        for key, value in reversed(node.value):  # the last one wins, as when loading
            if key.value == part:
                return key, value
    elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        item = node.value[part]
        return item, item
    return None
