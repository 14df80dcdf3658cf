"""What Airflow's metadata database knows about run times: the queries behind `invoke stats` and `progress`.

Everything here speaks plain DB-API (`%s` parameters), so the same queries run under psycopg on the
local platform and under pg8000 through the Cloud SQL connector inside the stats Job on GKE. The module
imports neither the environment model nor Airflow: the Job's image needs only this file's siblings.

Every query is read-only (`read_only_session`) and uses Airflow 3.3's own indexes, named in comments,
so a busy year (a million task instances) stays an index lookup:
* `idx_dag_run_run_after` (dag_run.run_after): the window "runs of the last N days";
* `ti_dag_run` (task_instance.dag_id, run_id): the task instances of each run in the window, probed once
  per run through a LATERAL join; `OFFSET 0` keeps PostgreSQL from flattening it into a plain join it
  might answer with a scan of every task instance when the window is wide;
* `dag_id_state` / `idx_dag_run_dag_id` (dag_run.dag_id) with `--dag`, combined with the run_after range.
"""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone

from infra.errors import UserError

STATEMENT_TIMEOUT_MS = 30_000
FINISHED = ("success", "failed")
# The tables the queries read; the read-only role gets SELECT on these and nothing else (not
# `connection` or `variable`, which hold credentials).
READ_TABLES = ("dag", "dag_run", "task_instance")


@dataclass(frozen=True)
class Row:
    """One line of `invoke stats`: a DAG (all DAGs) or a task (`--dag`)."""

    name: str
    runs: int
    success_rate: float | None  # successful / finished (success or failed); None when none finished
    avg_seconds: float | None
    p50_seconds: float | None
    p95_seconds: float | None
    avg_queued_seconds: float | None  # task instances: queued_dttm → start_date
    retries: int  # tries beyond the first, summed over task instances

    def as_dict(self, key: str) -> dict:
        data = asdict(self)
        data[key] = data.pop("name")
        return {key: data[key], **{k: v for k, v in data.items() if k != key}}


@dataclass(frozen=True)
class Day:
    day: str  # YYYY-MM-DD (UTC) of the runs' run_after
    p50_seconds: float
    p95_seconds: float


def read_only_session(conn, timeout_ms: int = STATEMENT_TIMEOUT_MS) -> None:
    """Start a read-only transaction with a statement timeout (UTC, so days are UTC days)."""
    cur = conn.cursor()
    cur.execute("SET TRANSACTION READ ONLY")
    cur.execute("SELECT set_config('statement_timeout', %s, true), set_config('TimeZone', 'UTC', true)", (str(timeout_ms),))
    cur.fetchall()


def _seconds(end: str, start: str) -> str:
    return f"EXTRACT(EPOCH FROM ({end} - {start}))::float8"


def _duration(p: str = "") -> str:
    """Seconds from start to end of a finished row (success or failed), NULL otherwise."""
    return f"CASE WHEN {p}state IN ('success', 'failed') THEN {_seconds(p + 'end_date', p + 'start_date')} END"


def _summary(p: str = "") -> str:
    """runs, success rate, avg / p50 / p95 duration over rows with state, start_date, end_date."""
    return f"""count(*),
    (count(*) FILTER (WHERE {p}state = 'success'))::float8
        / NULLIF(count(*) FILTER (WHERE {p}state IN ('success', 'failed')), 0),
    avg({_duration(p)}),
    percentile_cont(0.5) WITHIN GROUP (ORDER BY {_duration(p)}),
    percentile_cont(0.95) WITHIN GROUP (ORDER BY {_duration(p)})"""


# Per DAG. `runs`: idx_dag_run_run_after (range on run_after); task instances: ti_dag_run per run.
DAGS_SQL = f"""
WITH runs AS (
    SELECT dag_id, run_id, state, start_date, end_date FROM dag_run WHERE run_after >= %s
), by_run AS (
    SELECT dag_id, {_summary()} FROM runs GROUP BY dag_id
), by_task AS (
    SELECT r.dag_id, avg({_seconds('t.start_date', 't.queued_dttm')}) AS queued,
           COALESCE(sum(GREATEST(t.try_number - 1, 0)), 0) AS retries
    FROM runs r CROSS JOIN LATERAL (
        SELECT ti.start_date, ti.queued_dttm, ti.try_number FROM task_instance ti
        WHERE ti.dag_id = r.dag_id AND ti.run_id = r.run_id OFFSET 0  -- OFFSET 0: stays a probe per run
    ) t
    GROUP BY r.dag_id
)
SELECT b.*, t.queued, COALESCE(t.retries, 0) FROM by_run b LEFT JOIN by_task t USING (dag_id)
ORDER BY 4 DESC NULLS LAST, 1
"""

# Per task of one DAG: runs of the DAG in the window (idx_dag_run_run_after or idx_dag_run_dag_id,
# the planner picks), then ti_dag_run (dag_id, run_id) for each run.
TASKS_SQL = f"""
SELECT t.task_id, {_summary('t.')},
       avg({_seconds('t.start_date', 't.queued_dttm')}), COALESCE(sum(GREATEST(t.try_number - 1, 0)), 0)
FROM (SELECT run_id FROM dag_run WHERE dag_id = %s AND run_after >= %s) r
CROSS JOIN LATERAL (
    SELECT ti.task_id, ti.state, ti.start_date, ti.end_date, ti.queued_dttm, ti.try_number FROM task_instance ti
    WHERE ti.dag_id = %s AND ti.run_id = r.run_id OFFSET 0  -- OFFSET 0: stays a probe per run, never a scan
) t
GROUP BY t.task_id
ORDER BY 4 DESC NULLS LAST, 1
"""

# Daily p50/p95 of finished run durations: dag_run only, idx_dag_run_run_after.
DAILY_SQL = f"""
SELECT to_char(date_trunc('day', run_after), 'YYYY-MM-DD'),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY {_seconds('end_date', 'start_date')}),
       percentile_cont(0.95) WITHIN GROUP (ORDER BY {_seconds('end_date', 'start_date')})
FROM dag_run
WHERE run_after >= %s AND (%s::varchar IS NULL OR dag_id = %s) AND state IN ('success', 'failed')
  AND start_date IS NOT NULL AND end_date IS NOT NULL
GROUP BY 1 ORDER BY 1
"""


def since(days: int, now: datetime | None = None) -> datetime:
    return (now or datetime.now(timezone.utc)) - timedelta(days=days)


def check_dag(conn, dag_id: str, env_name: str) -> None:
    """A DAG id the database does not know is a one-line error with the closest known ids."""
    cur = conn.cursor()
    cur.execute("SELECT dag_id FROM dag")
    known = [row[0] for row in cur.fetchall()]
    if dag_id in known:
        return
    close = difflib.get_close_matches(dag_id, known, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else f"; known DAGs: {', '.join(sorted(known)[:10]) or 'none'}"
    raise UserError(f"no DAG {dag_id!r} in the metadata database of {env_name}{hint}")


def _rows(cur) -> list[Row]:
    return [
        Row(name, int(runs), rate, avg, p50, p95, queued, int(retries))
        for name, runs, rate, avg, p50, p95, queued, retries in cur.fetchall()
    ]


def dag_stats(conn, start: datetime) -> list[Row]:
    cur = conn.cursor()
    cur.execute(DAGS_SQL, (start,))
    return _rows(cur)


def task_stats(conn, dag_id: str, start: datetime) -> list[Row]:
    cur = conn.cursor()
    cur.execute(TASKS_SQL, (dag_id, start, dag_id))
    return _rows(cur)


def daily(conn, start: datetime, dag_id: str | None) -> list[Day]:
    cur = conn.cursor()
    cur.execute(DAILY_SQL, (start, dag_id, dag_id))
    return [Day(day, p50, p95) for day, p50, p95 in cur.fetchall()]


@dataclass(frozen=True)
class Report:
    environment: str
    days: int
    since: datetime
    dag_id: str | None
    rows: list[Row]
    daily: list[Day] | None = None

    def as_dict(self) -> dict:
        key = "task_id" if self.dag_id else "dag_id"
        data = {
            "environment": self.environment,
            "days": self.days,
            "since": self.since.isoformat(),
            "dag_id": self.dag_id,
            "rows": [row.as_dict(key) for row in self.rows],
        }
        if self.daily is not None:
            data["daily"] = [asdict(day) for day in self.daily]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Report:
        """The report a stats Job printed (`as_dict`), back as a Report."""
        key = "task_id" if data["dag_id"] else "dag_id"
        rows = [Row(name=r[key], **{k: v for k, v in r.items() if k != key}) for r in data["rows"]]
        daily = [Day(**d) for d in data["daily"]] if "daily" in data else None
        return cls(data["environment"], data["days"], datetime.fromisoformat(data["since"]), data["dag_id"], rows, daily)


def collect(conn, env_name: str, *, dag_id: str | None, days: int, with_daily: bool, now: datetime | None = None) -> Report:
    """All of `invoke stats` on one read-only transaction of `conn`."""
    start = since(days, now)
    read_only_session(conn)
    try:
        if dag_id:
            rows = task_stats(conn, dag_id, start)
            if not rows:  # unknown, or no runs in the window: only then is the DAG list worth reading
                check_dag(conn, dag_id, env_name)
        else:
            rows = dag_stats(conn, start)
        days_list = daily(conn, start, dag_id) if with_daily else None
    finally:
        conn.rollback()  # read-only: nothing to commit
    return Report(env_name, days, start, dag_id, rows, days_list)


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def read_only_grants(role: str, schema: str = "public") -> str:
    """SQL giving `role` exactly what `stats` and `progress` read: SELECT on READ_TABLES, nothing else.

    The GKE bootstrap (issue 12) runs it as the database owner after every `airflow db migrate`, for the
    stats IAM database user (`naming.stats_database_user`); it is idempotent. Grants are per table, not
    `ALTER DEFAULT PRIVILEGES` / all tables: `connection` and `variable` hold credentials, and a table a
    migration recreates gets its grant back on the next bootstrap. The role's sessions also default to
    read-only with a statement timeout, so even a hand-typed query cannot write or run away.
    """
    r, s = _identifier(role), _identifier(schema)
    tables = ", ".join(f"{s}.{_identifier(t)}" for t in READ_TABLES)
    return "\n".join(
        (
            f"REVOKE ALL ON ALL TABLES IN SCHEMA {s} FROM {r};",
            f"GRANT USAGE ON SCHEMA {s} TO {r};",
            f"GRANT SELECT ON {tables} TO {r};",
            f"ALTER ROLE {r} SET default_transaction_read_only = on;",
            f"ALTER ROLE {r} SET statement_timeout = '{STATEMENT_TIMEOUT_MS}ms';",
        )
    )
