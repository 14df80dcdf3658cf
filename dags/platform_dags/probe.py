"""The canary probe: is the scheduler scheduling, are the workers executing? One line, exit 0 or 1.

    python -m platform_dags.probe scheduler [--max-age-minutes N]   # liveness probe of the scheduler
    python -m platform_dags.probe workers   [--max-age-minutes N]   # alerting / status, never a restart
    python -m platform_dags.probe setup                              # create the canary pool (bootstrap)

``scheduler`` passes when the scheduler *created* a scheduled ``system_canary`` run within the max age
(``dag_run.queued_at``; manual runs are made by the API server and prove nothing). ``workers`` passes
when a canary task instance *succeeded* within the max age. A run that was created but never executed
points at the workers: that answer must never restart the scheduler.

Startup grace, decided here (not left to initialDelay alone): until the DAG processor has registered
``system_canary`` the probe cannot judge anything and passes with "not registered yet" (restarting the
scheduler would not help a DAG processor that has not parsed it); a paused canary passes the same way
with a warning. Once registered, the clock starts at registration (first ``dag_version.created_at``), so
a new deployment gets ``max-age`` minutes to create its first run.

Probes are not tasks: they read the metadata DB directly, with SQLAlchemy Core on
``[database] sql_alchemy_conn``. To stay fast (kubelets time probes) Airflow itself is imported only
when the connection is not in the environment (e.g. ``_CMD``/``_SECRET`` variants or airflow.cfg).
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import datetime, timezone

CANARY_DAG = "system_canary"
DEFAULT_MAX_AGE = 15
DEFAULT_POOL = "system_canary"


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
    return {"connect_timeout": 10} if url.startswith("postgresql") else {}


def minutes(delta) -> str:
    return f"{delta.total_seconds() / 60:.1f} min"


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value


def facts(conn, dag_id: str = CANARY_DAG) -> dict:
    """Everything the two answers need, in one round of small queries."""
    from sqlalchemy import text

    dag = conn.execute(text("SELECT is_paused FROM dag WHERE dag_id = :d"), {"d": dag_id}).first()
    registered = conn.execute(text("SELECT min(created_at) FROM dag_version WHERE dag_id = :d"), {"d": dag_id}).scalar()
    created = conn.execute(
        text("SELECT max(queued_at) FROM dag_run WHERE dag_id = :d AND run_type = 'scheduled'"), {"d": dag_id}
    ).scalar()
    succeeded = conn.execute(
        text("SELECT max(end_date) FROM task_instance WHERE dag_id = :d AND state = 'success'"), {"d": dag_id}
    ).scalar()
    return {
        "registered": dag is not None,
        "paused": bool(dag[0]) if dag is not None else False,
        "registered_at": _aware(registered),
        "last_created": _aware(created),
        "last_success": _aware(succeeded),
    }


def judge(question: str, f: dict, max_age_minutes: float, now: datetime, dag_id: str = CANARY_DAG) -> tuple[int, str]:
    """Exit code and the one line to print, from the facts (pure: the tests' and the reader's map)."""
    if not f["registered"]:
        return 0, f"{question}: OK (startup) {dag_id} is not registered yet; the DAG processor has not parsed it"
    if f["paused"]:
        return 0, f"{question}: WARN {dag_id} is paused; unpause it, the probe cannot judge the {question}"
    limit = max_age_minutes * 60
    if question == "scheduler":
        last, what = f["last_created"], "run created"
    else:
        last, what = f["last_success"], "task succeeded"
    if last is None:
        since = f["registered_at"] or now
        age = now - since
        if age.total_seconds() <= limit:
            return 0, f"{question}: OK (startup) no canary {what} yet, registered {minutes(age)} ago (grace {max_age_minutes:g} min)"
        blame = "the scheduler is not scheduling" if question == "scheduler" else "workers are not executing tasks"
        return 1, f"{question}: FAIL no canary {what} in the {minutes(age)} since {dag_id} was registered: {blame}"
    age = now - last
    if age.total_seconds() <= limit:
        return 0, f"{question}: OK last canary {what} {minutes(age)} ago (max {max_age_minutes:g} min)"
    if question == "scheduler":
        return 1, f"scheduler: FAIL last canary run created {minutes(age)} ago (max {max_age_minutes:g} min): not scheduling"
    return 1, (
        f"workers: FAIL last canary task succeeded {minutes(age)} ago (max {max_age_minutes:g} min): "
        "workers are not executing; alert, do not restart the scheduler"
    )


def ensure_pool(conn, name: str = DEFAULT_POOL, slots: int = 1) -> bool:
    """Create the canary's pool if missing; True when it was created."""
    from sqlalchemy import text

    if conn.execute(text("SELECT 1 FROM slot_pool WHERE pool = :p"), {"p": name}).first():
        return False
    conn.execute(
        text(
            "INSERT INTO slot_pool (pool, slots, description, include_deferred)"
            " VALUES (:p, :s, 'system_canary: one slot the scheduler canary never waits for', false)"
        ),
        {"p": name, "s": slots},
    )
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m platform_dags.probe", description=__doc__.splitlines()[0])
    parser.add_argument("question", choices=["scheduler", "workers", "setup"])
    parser.add_argument("--max-age-minutes", type=float, default=None, help="default: [platform] canary_max_age_minutes")
    parser.add_argument("--dag-id", default=CANARY_DAG, help=f"the canary DAG (default {CANARY_DAG})")
    args = parser.parse_args(argv)
    try:
        with engine().begin() as conn:
            if args.question == "setup":
                pool = config("platform", "canary_pool", DEFAULT_POOL) or DEFAULT_POOL
                created = ensure_pool(conn, pool)
                print(f"setup: pool {pool} {'created' if created else 'already exists'}")
                return 0
            max_age = args.max_age_minutes
            if max_age is None:
                max_age = float(config("platform", "canary_max_age_minutes", str(DEFAULT_MAX_AGE)) or DEFAULT_MAX_AGE)
            code, line = judge(args.question, facts(conn, args.dag_id), max_age, datetime.now(timezone.utc), args.dag_id)
    except Exception as error:  # noqa: BLE001 - a probe answers in one line, whatever broke
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        print(f"{args.question}: FAIL cannot read the metadata database: {type(error).__name__}: {first}"[:300])
        return 1
    print(line)
    return code


if __name__ == "__main__":
    sys.exit(main())
