"""The scheduler's probes and the canary's questions, run inside Airflow's containers. One line, exit 0 or 1.

    python -m platform_dags.probe liveness [--max-age-minutes N] [--health-port P]  # the scheduler's liveness probe
    python -m platform_dags.probe startup  [--health-port P]                        # the scheduler's startup probe
    python -m platform_dags.probe workers  [--max-age-minutes N]                    # alerting / status, never a restart

Kubernetes allows one liveness probe per container, so ``liveness`` answers everything a restart could
fix, in this order:

1. the metadata database cannot be read → **pass**, and say so: a restart cannot help (Cloud SQL
   failover, maintenance window), and the health server answers 503 on any database error anyway. A
   freeze during the outage is caught once the database is back;
2. the scheduler's health server (``GET /health`` on ``[scheduler] scheduler_health_check_server_port``)
   answers anything but 200, or nothing → **fail**: the heartbeat is stale, the scheduler is frozen;
3. no scheduled ``system_canary`` run was *created* within the max age (``dag_run.queued_at``; manual
   runs are made by the API server and prove nothing) → **fail**: alive but not scheduling.

``startup`` passes once the health server answers 200. It does not pass on an unreachable database: at
pod start the Cloud SQL Auth Proxy may not be up yet, and liveness would then judge a scheduler that
has not started. ``workers`` passes when a canary task *succeeded* within the max age; a run created but
never executed points at the workers, and that answer must never restart the scheduler.

Grace, decided here (not left to initialDelay, which would also blind the probe to an early freeze):
until the DAG processor has registered ``system_canary`` the canary cannot be judged ("not registered
yet"); a paused canary passes with a warning; the clock starts at the latest of registration (first
``dag_version.created_at``) and the newest scheduler's start (``job.start_date``), so a new deployment
or a restarted scheduler gets ``max-age`` minutes to create its first run.

Probes are not tasks: they read the metadata DB directly, with SQLAlchemy Core on ``[database]
sql_alchemy_conn``. The kubelet runs them every few seconds, so Airflow itself (1.3 s of CPU to import
its configuration) is imported only when a setting is neither an argument nor an environment variable.
"""

from __future__ import annotations

import argparse
import os
import sys
import urllib.error
import urllib.request
from datetime import datetime, timezone

CANARY_DAG = "system_canary"
DEFAULT_MAX_AGE = 15
# Each step answers within its own limit, so the whole probe answers well inside the kubelet's timeout
# (an unreachable database must be a pass, not a timed-out failure). The builder's timeout covers these.
HEALTH_TIMEOUT = 5
CONNECT_TIMEOUT = 10
STATEMENT_TIMEOUT = 5
WILDCARD_HOSTS = ("", "0.0.0.0", "::")


def config(section: str, key: str, fallback: str | None = None) -> str | None:
    """An Airflow setting: the environment variable when present (fast), else Airflow's own config."""
    value = os.environ.get(f"AIRFLOW__{section.upper()}__{key.upper()}")
    if value:
        return value
    from airflow.configuration import conf  # slow import, only when needed

    return conf.get(section, key, fallback=fallback)


def engine():
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    url = config("database", "sql_alchemy_conn")
    return create_engine(url, poolclass=NullPool, connect_args=_connect_args(url))


def _connect_args(url: str) -> dict:
    # A probe must answer within its timeout even when the database hangs.
    return {"connect_timeout": CONNECT_TIMEOUT} if url.startswith("postgresql") else {}


def minutes(delta) -> str:
    return f"{delta.total_seconds() / 60:.1f} min"


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value


def facts(conn, dag_id: str = CANARY_DAG) -> dict:
    """Everything the answers need, in one round of small queries."""
    from sqlalchemy import text

    if conn.dialect.name == "postgresql":
        # SET LOCAL, not a startup option: PgBouncer refuses unknown startup parameters.
        conn.execute(text(f"SET LOCAL statement_timeout = '{STATEMENT_TIMEOUT}s'"))
    dag = conn.execute(text("SELECT is_paused FROM dag WHERE dag_id = :d"), {"d": dag_id}).first()
    registered = conn.execute(text("SELECT min(created_at) FROM dag_version WHERE dag_id = :d"), {"d": dag_id}).scalar()
    created = conn.execute(
        text("SELECT max(queued_at) FROM dag_run WHERE dag_id = :d AND run_type = 'scheduled'"), {"d": dag_id}
    ).scalar()
    succeeded = conn.execute(
        text("SELECT max(end_date) FROM task_instance WHERE dag_id = :d AND state = 'success'"), {"d": dag_id}
    ).scalar()
    scheduler_started = conn.execute(text("SELECT max(start_date) FROM job WHERE job_type = 'SchedulerJob'")).scalar()
    return {
        "registered": dag is not None,
        "paused": bool(dag[0]) if dag is not None else False,
        "registered_at": _aware(registered),
        "last_created": _aware(created),
        "last_success": _aware(succeeded),
        "scheduler_started": _aware(scheduler_started),
    }


def judge(question: str, f: dict, max_age_minutes: float, now: datetime, dag_id: str = CANARY_DAG) -> tuple[int, str]:
    """Exit code and the canary's verdict, from the facts (pure: the tests' and the reader's map).

    `question` is "scheduler" (was a run created?) or "workers" (did a task succeed?)."""
    if not f["registered"]:
        return 0, f"OK (startup) {dag_id} is not registered yet; the DAG processor has not parsed it"
    if f["paused"]:
        return 0, f"WARN {dag_id} is paused; unpause it, the probe cannot judge the {question}"
    limit = max_age_minutes * 60
    if question == "scheduler":
        last, what = f["last_created"], "run created"
        started = f.get("scheduler_started")
        if started is not None and (last is None or started > last) and (now - started).total_seconds() <= limit:
            return 0, (f"OK (startup) no canary run created since the scheduler started {minutes(now - started)} ago "
                       f"(grace {max_age_minutes:g} min)")
    else:
        last, what = f["last_success"], "task succeeded"
    if last is None:
        since = f["registered_at"] or now
        age = now - since
        if age.total_seconds() <= limit:
            return 0, f"OK (startup) no canary {what} yet, registered {minutes(age)} ago (grace {max_age_minutes:g} min)"
        blame = "the scheduler is not scheduling" if question == "scheduler" else "workers are not executing tasks"
        return 1, f"FAIL no canary {what} in the {minutes(age)} since {dag_id} was registered: {blame}"
    age = now - last
    if age.total_seconds() <= limit:
        return 0, f"OK last canary {what} {minutes(age)} ago (max {max_age_minutes:g} min)"
    if question == "scheduler":
        return 1, f"FAIL last canary run created {minutes(age)} ago (max {max_age_minutes:g} min): not scheduling"
    return 1, (
        f"FAIL last canary task succeeded {minutes(age)} ago (max {max_age_minutes:g} min): "
        "workers are not executing; alert, do not restart the scheduler"
    )


def health_url(port: int | None) -> str:
    """The scheduler's health server as seen from inside its container (a wildcard bind means loopback)."""
    host = os.environ.get("AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST", "")
    host = "127.0.0.1" if host in WILDCARD_HOSTS else host
    if port is None:
        port = int(config("scheduler", "scheduler_health_check_server_port", "8974") or 8974)
    return f"http://{host}:{port}/health"


def ask_health(url: str) -> tuple[bool, str]:
    """(healthy, what the health server said)."""
    try:
        with urllib.request.urlopen(url, timeout=HEALTH_TIMEOUT) as response:
            return response.status == 200, f"HTTP {response.status}"
    except urllib.error.HTTPError as error:
        return False, f"HTTP {error.code}" + (" (scheduler heartbeat stale)" if error.code == 503 else "")
    except Exception as error:  # noqa: BLE001 - refused, reset, timed out: all mean "no answer"
        reason = getattr(error, "reason", error)
        return False, f"no answer ({reason})"


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0] if text else ''}"[:200]


def _unreachable(error: BaseException) -> bool:
    """The database could not be reached or did not answer in time (as opposed to a broken probe)."""
    from sqlalchemy import exc

    return isinstance(error, (exc.OperationalError, exc.InterfaceError, exc.TimeoutError))


def liveness(args, max_age: float) -> tuple[int, str]:
    url = health_url(args.health_port)
    healthy, said = ask_health(url)
    try:
        with engine().begin() as conn:
            f = facts(conn, args.dag_id)
    except Exception as error:  # noqa: BLE001 - a probe answers in one line, whatever broke
        if _unreachable(error):
            return 0, (f"OK metadata database unreachable ({_first_line(error)}); "
                       "a restart cannot help, the scheduler is judged once it is back")
        return 1, f"FAIL cannot judge the scheduler: {_first_line(error)}"
    if not healthy:
        return 1, f"FAIL health server {url}: {said}"
    code, verdict = judge("scheduler", f, max_age, datetime.now(timezone.utc), args.dag_id)
    if code:
        return code, verdict
    word = next(w for w in ("OK (startup)", "OK", "WARN") if verdict.startswith(w))
    return 0, f"{word} health server healthy; {verdict[len(word):].strip()}"


def answer(args) -> tuple[int, str]:
    if args.question == "startup":
        url = health_url(args.health_port)
        healthy, said = ask_health(url)
        return (0 if healthy else 1), f"{'OK' if healthy else 'FAIL'} health server {url}: {said}"
    max_age = args.max_age_minutes
    if max_age is None:
        max_age = float(config("platform", "canary_max_age_minutes", str(DEFAULT_MAX_AGE)) or DEFAULT_MAX_AGE)
    if args.question == "liveness":
        return liveness(args, max_age)
    try:
        with engine().begin() as conn:
            return judge("workers", facts(conn, args.dag_id), max_age, datetime.now(timezone.utc), args.dag_id)
    except Exception as error:  # noqa: BLE001 - a probe answers in one line, whatever broke
        return 1, f"FAIL cannot read the metadata database: {_first_line(error)}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m platform_dags.probe", description=__doc__.splitlines()[0])
    parser.add_argument("question", choices=["liveness", "startup", "workers"])
    parser.add_argument("--max-age-minutes", type=float, default=None, help="default: [platform] canary_max_age_minutes")
    parser.add_argument("--health-port", type=int, default=None,
                        help="default: [scheduler] scheduler_health_check_server_port")
    parser.add_argument("--dag-id", default=CANARY_DAG, help=f"the canary DAG (default {CANARY_DAG})")
    args = parser.parse_args(argv)
    code, line = answer(args)
    print(f"{args.question}: {line}"[:300])
    return code


if __name__ == "__main__":
    sys.exit(main())
