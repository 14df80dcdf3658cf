"""A seed list of DAG runs and task instances with known times, written through Airflow's ORM models.

`seed_runs()` builds the list (plain data, so tests compute their expectations from it independently of
the queries); `write(dag, runs)` stores it as Airflow would: DagRun and TaskInstance rows of a DAG that
was registered (serialized, versioned) first.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone


@dataclass
class SeedTask:
    task_id: str
    state: str | None
    queued: datetime | None = None
    start: datetime | None = None
    end: datetime | None = None
    try_number: int = 1


@dataclass
class SeedRun:
    dag_id: str
    run_id: str
    run_after: datetime
    state: str
    start: datetime | None
    end: datetime | None
    tasks: list[SeedTask] = field(default_factory=list)


def etl_dag(dag_id: str, tables: tuple[str, ...]):
    """A DAG shaped like the pipeline factory's: per table a group extract → transform → publish."""
    from airflow.providers.standard.operators.empty import EmptyOperator
    from airflow.sdk import DAG, TaskGroup

    with DAG(dag_id, schedule=None, start_date=datetime(2026, 1, 1, tzinfo=timezone.utc)) as dag:
        for table in tables:
            with TaskGroup(table):
                EmptyOperator(task_id="extract") >> EmptyOperator(task_id="transform") >> EmptyOperator(task_id="publish")
    return dag


def finished_run(rng: random.Random, dag_id: str, task_ids: list[str], run_after: datetime, fail: bool) -> SeedRun:
    """One run: tasks one after the other with random queued waits, durations and retries."""
    start = run_after + timedelta(seconds=rng.randint(1, 30))
    clock = start
    tasks = []
    for i, task_id in enumerate(task_ids):
        queued = clock + timedelta(seconds=rng.uniform(0.5, 3))
        task_start = queued + timedelta(seconds=rng.uniform(0.1, 20))
        task_end = task_start + timedelta(seconds=rng.uniform(5, 300))
        state = "failed" if fail and i == len(task_ids) - 1 else "success"
        tasks.append(SeedTask(task_id, state, queued, task_start, task_end, rng.choice((1, 1, 1, 2, 3))))
        clock = task_end
    return SeedRun(dag_id, f"seed__{run_after:%Y%m%dT%H%M%S}", run_after, "failed" if fail else "success", start, clock, tasks)


def seed_runs(dag_id: str, task_ids: list[str], now: datetime, days: int, seed: int, fail_every: int = 4) -> list[SeedRun]:
    """A run per day for `days` days before `now` (each 3 hours after midnight), every `fail_every`th failing."""
    rng = random.Random(seed)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    runs = []
    for day in range(days, 0, -1):
        run_after = midnight - timedelta(days=day) + timedelta(hours=3)
        runs.append(finished_run(rng, dag_id, task_ids, run_after, fail=day % fail_every == 0))
    return runs


def write(dag, runs: list[SeedRun]) -> None:
    """Store the runs as DagRun and TaskInstance rows of the registered `dag`, through Airflow's ORM."""
    from airflow.models.dag_version import DagVersion
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        version = DagVersion.get_latest_version(dag.dag_id, session=session)
        for run in runs:
            dag_run = DagRun(
                dag_id=run.dag_id, run_id=run.run_id, run_after=run.run_after, logical_date=run.run_after,
                start_date=run.start, state=run.state, run_type="scheduled",
                queued_at=run.start - timedelta(seconds=1) if run.start else None,
            )
            dag_run.end_date = run.end
            session.add(dag_run)
            session.flush()
            for t in run.tasks:
                ti = TaskInstance(dag.get_task(t.task_id), dag_version_id=version.id, run_id=run.run_id, state=t.state)
                ti.queued_dttm, ti.start_date, ti.end_date, ti.try_number = t.queued, t.start, t.end, t.try_number
                if t.start and t.end:
                    ti.duration = (t.end - t.start).total_seconds()
                session.add(ti)
