"""The progress display of deploy and destroy: numbered steps, each with its outcome and duration.

Each step prints a header when it starts and one line when it ends (done / skipped / failed, seconds),
and the run closes with a table of every step, so a CI log and a terminal read the same. A failing
step stops the run: the remaining steps are listed as not run, and the error propagates.
"""

from __future__ import annotations

import os
import time
from contextlib import nullcontext
from typing import Callable, Sequence

from rich.console import Console
from rich.markup import escape
from rich.table import Table


def make_console() -> Console:
    """stderr console; CI logs have no terminal width, so give tables room instead of rich's 80 columns."""
    console = Console(stderr=True, soft_wrap=True)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(stderr=True, soft_wrap=True, width=140)
    return console


class Skipped(Exception):
    """A step that has nothing to do in this run; the message says why."""


STYLE = {"done": "green", "skipped": "yellow", "failed": "bold red", "not run": "dim"}
MARK = {"done": "✓", "skipped": "–", "failed": "✗", "not run": " "}


class Steps:
    def __init__(self, console: Console, title: str, names: Sequence[str]):
        self.console = console
        self.title = title
        self.names = list(names)
        self.results: list[tuple[str, str, float, str]] = []
        console.print(f"[bold]{escape(title)}[/]: {len(self.names)} steps", highlight=False)

    def _header(self, name: str) -> None:
        number = self.names.index(name) + 1
        self.console.print(f"[bold cyan]▸ {number}/{len(self.names)} {escape(name)}[/]", highlight=False)

    def _record(self, name: str, outcome: str, seconds: float, detail: str) -> None:
        self.results.append((name, outcome, seconds, detail))
        timing = f" in {seconds:.1f} s" if outcome != "skipped" else ""
        text = f"  [{STYLE[outcome]}]{MARK[outcome]} {outcome}{timing}[/]"
        self.console.print(text + (f": {escape(detail)}" if detail else ""), highlight=False)

    def run(self, name: str, action: Callable[[], str | None], *, interactive: bool = False) -> None:
        self._header(name)
        started = time.monotonic()
        # A spinner on a terminal; never around a prompt (it would overwrite the question).
        spinner = self.console.status(f"{name}…") if self.console.is_terminal and not interactive else nullcontext()
        try:
            with spinner:
                detail = action() or ""
        except Skipped as skip:
            self._record(name, "skipped", time.monotonic() - started, str(skip))
            return
        except BaseException as exc:
            self._record(name, "failed", time.monotonic() - started, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            self.finish()
            raise
        self._record(name, "done", time.monotonic() - started, detail)

    def skip(self, name: str, reason: str) -> None:
        self._header(name)
        self._record(name, "skipped", 0.0, reason)

    def finish(self) -> None:
        table = Table(title=self.title, title_justify="left")
        table.add_column("#", justify="right")
        table.add_column("step")
        table.add_column("outcome")
        table.add_column("seconds", justify="right")
        table.add_column("detail", overflow="fold")
        seen = {name for name, *_ in self.results}
        rows = self.results + [(name, "not run", 0.0, "") for name in self.names if name not in seen]
        for name, outcome, seconds, detail in rows:
            number = self.names.index(name) + 1 if name in self.names else ""
            shown = f"{seconds:.1f}" if outcome in ("done", "failed") else ""
            table.add_row(str(number), name, f"[{STYLE[outcome]}]{outcome}[/]", shown, escape(detail))
        self.console.print(table)
