"""`invoke stats` and `invoke progress` end to end: where the query runs, and what the user sees.

On `local` the queries run here, on the embedded PostgreSQL. On GKE environments Cloud SQL has only a
private IP, so the queries run in a short-lived Job inside the cluster (`infra.stats_job`) that prints
the report as JSON; it is rendered here exactly like a local one (table, JSON, CSV, SVG).
"""

from __future__ import annotations

import sys

from infra.errors import UserError
from infra.stats import Report, collect

FORMATS = ("table", "json", "csv")


def local_connection(env):
    """A psycopg connection to the local platform's metadata database (trust auth on loopback)."""
    import psycopg

    from infra.airflow_config import database_url

    url = database_url(env, "airflow", "postgresql")
    try:
        return psycopg.connect(url, connect_timeout=5, application_name="invoke-stats")
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else "no answer"
        raise UserError(
            f"cannot reach the local metadata database on 127.0.0.1:{env.local.postgres_port} ({reason}): "
            "start the platform with `invoke deploy local`"
        ) from None


def show(report: Report, fmt: str, plot: str | None, out=None) -> None:
    from infra import stats_output

    out = out or sys.stdout
    if plot:
        written = stats_output.write_plot(report, plot)
        print(f"wrote {written} ({len(report.daily or [])} days)", file=sys.stderr)
    rendered = stats_output.render(report, fmt)
    if isinstance(rendered, str):
        out.write(rendered if rendered.endswith("\n") else rendered + "\n")
    else:
        stats_output.console(out).print(rendered)


def check_flags(fmt: str, days: int) -> None:
    if fmt not in FORMATS:
        raise UserError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if days < 1:
        raise UserError(f"--days must be 1 or more, got {days}")


def stats(env, *, dag_id: str | None, days: int, fmt: str, plot: str | None, image: str | None = None) -> int:
    check_flags(fmt, days)
    if env.runtime == "local":
        with local_connection(env) as conn:
            report = collect(conn, env.name, dag_id=dag_id, days=days, with_daily=bool(plot))
    else:
        from infra.stats_job import stats_in_cluster

        report = stats_in_cluster(env, dag_id=dag_id, days=days, with_daily=bool(plot), image=image)
    show(report, fmt, plot)
    return 0


def progress(env, pipeline: str, *, run_id: str | None, watch: bool, interval: float = 5.0, image: str | None = None) -> int:
    from infra import progress as prog

    if env.runtime == "local":
        with local_connection(env) as conn:
            take = lambda: prog.snapshot(conn, env.name, pipeline, run_id)  # noqa: E731
            return prog.follow(prog.polled(take, watch, interval), watch=watch)
    from infra.stats_job import progress_in_cluster

    return progress_in_cluster(env, pipeline, run_id=run_id, watch=watch, interval=interval, image=image)
