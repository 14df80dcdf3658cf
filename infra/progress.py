"""`invoke progress`: one run of a pipeline as a table a person can watch, with an estimate of the time left.

The pipeline factory puts each table's tasks in a task group (`<table>.extract` → `.transform` →
`.publish`), so a table's state is the state of the task ids under its prefix. The time left comes
from the 30-day task averages (`infra.stats.task_stats`): within a table the tasks run one after the
other, tables run side by side, so the estimate is the longest remaining table.

Queries: the run by `dag_run_dag_id_run_id_key` (dag_id, run_id) or, for the latest, a backward scan of
`idx_dag_run_run_after`; its task instances by `ti_dag_run` (dag_id, run_id).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterable, Iterator

from infra.errors import UserError
from infra.stats import check_dag, read_only_session, since, task_stats

FINISHED_RUN = ("success", "failed")
DONE = ("success", "skipped")
FAILED = ("failed", "upstream_failed")
RETRYING = ("up_for_retry",)
ACTIVE = ("running", "queued", "scheduled", "deferred", "up_for_reschedule", "restarting")

RUN_SQL = """
SELECT run_id, state, start_date, end_date, now() FROM dag_run WHERE dag_id = %s AND run_id = %s
"""
LATEST_SQL = """
SELECT run_id, state, start_date, end_date, now() FROM dag_run WHERE dag_id = %s ORDER BY run_after DESC LIMIT 1
"""
TASKS_SQL = """
SELECT task_id, state, start_date, end_date FROM task_instance WHERE dag_id = %s AND run_id = %s
"""


@dataclass(frozen=True)
class TableProgress:
    name: str
    state: str  # waiting, running, retrying, done, failed
    done: int
    total: int
    seconds: float | None  # since its first task started (to its end when finished)
    left_seconds: float | None  # from the 30-day averages; None when a task has no history


@dataclass(frozen=True)
class Snapshot:
    environment: str
    dag_id: str
    run_id: str
    run_state: str
    elapsed_seconds: float | None
    tables: list[TableProgress] = field(default_factory=list)
    left_seconds: float | None = None

    @property
    def finished(self) -> bool:
        return self.run_state in FINISHED_RUN

    @property
    def done(self) -> int:
        return sum(t.done for t in self.tables)

    @property
    def total(self) -> int:
        return sum(t.total for t in self.tables)

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Snapshot:
        return cls(**{**data, "tables": [TableProgress(**t) for t in data["tables"]]})


def group_of(task_id: str) -> str:
    """The factory's task group: `orders.extract` → `orders`; a task outside a group is its own table."""
    return task_id.rsplit(".", 1)[0] if "." in task_id else task_id


def table_state(states: list[str | None]) -> str:
    if any(s in FAILED for s in states):
        return "failed"
    if any(s in RETRYING for s in states):
        return "retrying"
    if all(s in DONE for s in states):
        return "done"
    if any(s in ACTIVE or s in DONE for s in states):
        return "running"
    return "waiting"


def _table(name: str, tasks: list[tuple], averages: dict[str, float | None], now) -> TableProgress:
    states = [state for _, state, _, _ in tasks]
    state = table_state(states)
    starts = [start for _, _, start, _ in tasks if start]
    ends = [end for _, _, _, end in tasks if end]
    seconds = None
    if starts:
        until = max(ends) if state in ("done", "failed") and ends else now
        seconds = (until - min(starts)).total_seconds()
    left: float | None = 0.0
    if state in ("done", "failed"):
        pass
    else:
        for task_id, task_state, start, _ in tasks:
            if task_state in DONE:
                continue
            average = averages.get(task_id)
            if average is None:
                left = None
                break
            running_for = (now - start).total_seconds() if task_state == "running" and start else 0.0
            left += max(average - running_for, 0.0)
    return TableProgress(name, state, sum(s in DONE for s in states), len(states), seconds, left)


def snapshot(conn, env_name: str, dag_id: str, run_id: str | None) -> Snapshot:
    """The run's state now, on a fresh read-only transaction (so each refresh sees new rows)."""
    read_only_session(conn)
    try:
        check_dag(conn, dag_id, env_name)
        cur = conn.cursor()
        cur.execute(RUN_SQL if run_id else LATEST_SQL, (dag_id, run_id) if run_id else (dag_id,))
        row = cur.fetchone()
        if row is None:
            which = f"run {run_id!r}" if run_id else "run"
            raise UserError(f"{dag_id} has no {which} in the metadata database of {env_name}: trigger one first")
        found_run, run_state, run_start, run_end, now = row
        cur.execute(TASKS_SQL, (dag_id, found_run))
        tis = cur.fetchall()
        averages = {r.name: r.avg_seconds for r in task_stats(conn, dag_id, since(30, now))}
    finally:
        conn.rollback()
    groups: dict[str, list[tuple]] = {}
    for ti in tis:
        groups.setdefault(group_of(ti[0]), []).append(ti)
    tables = [_table(name, groups[name], averages, now) for name in sorted(groups)]
    elapsed = ((run_end or now) - run_start).total_seconds() if run_start else None
    if run_state in FINISHED_RUN:
        left = 0.0
    else:
        pending = [t.left_seconds for t in tables]
        left = None if any(x is None for x in pending) else max(pending, default=0.0)
    return Snapshot(env_name, dag_id, found_run, run_state or "unknown", elapsed, tables, left)


def polled(take: Callable[[], Snapshot], watch: bool, interval: float) -> Iterator[Snapshot]:
    """One snapshot, or (with watch) a new one every `interval` seconds until the run ends."""
    while True:
        snap = take()
        yield snap
        if not watch or snap.finished:
            return
        time.sleep(interval)


STATE_STYLE = {"done": "green", "failed": "bold red", "retrying": "yellow", "running": "cyan", "waiting": "dim"}


def render(snap: Snapshot):
    """The table and a progress bar, as one rich renderable."""
    from rich.console import Group
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
    from rich.table import Table

    from infra.stats_output import human

    left = "unknown" if snap.left_seconds is None else human(snap.left_seconds)
    title = f"{snap.environment}: {snap.dag_id} run {snap.run_id}: {snap.run_state}, elapsed {human(snap.elapsed_seconds)}"
    if not snap.finished:
        title += f", about {left} left"
    table = Table(title=title, title_justify="left")
    for name, justify in (("table", "left"), ("state", "left"), ("tasks", "right"), ("duration", "right"), ("left", "right")):
        table.add_column(name, justify=justify)
    for t in snap.tables:
        table.add_row(
            t.name, f"[{STATE_STYLE.get(t.state, '')}]{t.state}[/]", f"{t.done}/{t.total}", human(t.seconds),
            "-" if t.state in ("done", "failed") else ("?" if t.left_seconds is None else human(t.left_seconds)),
        )
    bar = Progress(TextColumn("tasks done"), BarColumn(), MofNCompleteColumn(), auto_refresh=False)
    bar.add_task("tasks", total=snap.total or 1, completed=snap.done)
    return Group(table, bar)


def follow(snapshots: Iterable[Snapshot], *, watch: bool, console=None) -> int:
    """Show the snapshots (live, refreshing in place, with watch); 1 when the run failed, else 0."""
    from rich.live import Live

    from infra.stats_output import console as make_console

    console = console or make_console()
    last = None
    if watch:
        with Live(console=console, auto_refresh=False, transient=False) as live:
            for last in snapshots:
                live.update(render(last), refresh=True)
    else:
        for last in snapshots:
            console.print(render(last))
    if last is not None and last.run_state == "failed":
        console.print(f"[bold red]{last.dag_id} run {last.run_id} failed[/]")
        return 1
    return 0
