"""Problems in a pipeline file, each at `file:line:col`: the shared loader, with the factory's error type.

Reading, YAML loading (line and column, duplicate keys) and locating a key path are
`platform_schema.document`, shared with the environment files; this module adds `PipelineError`,
which carries every problem of a file at once.
"""

from __future__ import annotations

from platform_schema import Document, DocumentError, Problem, shown_path

__all__ = ["Document", "DocumentError", "PipelineError", "Problem", "shown_path"]


class PipelineError(ValueError):
    """A pipeline file is invalid; the message holds one `path:line:col: message` line per problem."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems)
        super().__init__("\n".join(str(p) for p in self.problems))
