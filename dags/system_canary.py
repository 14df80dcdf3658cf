"""system_canary: a tiny DAG whose runs prove that the scheduler schedules and the workers execute.

Every ``[platform] canary_interval_minutes`` (default 5) the scheduler creates a run; its one task
returns at once. The scheduler's liveness probe (``python -m platform_dags.probe liveness``) fails when
no run was created for ``canary_max_age_minutes``; ``... workers`` fails when no task succeeded for that
long.

Why each setting:
* highest priority (absolute weight) and its own pool (``[platform] canary_pool``, created through
  the REST API by the platform's bootstrap): a busy platform never starves the canary, so a
  late canary means a sick platform, not a full queue;
* ``catchup=False`` and ``max_active_runs=1``: after an outage one fresh run, not a backlog;
* ``dagrun_timeout`` = one interval: a run stuck on dead workers fails and frees the slot, so the
  scheduler keeps *creating* runs and is not blamed for the workers;
* unpaused on creation: a new deployment must not wait for someone to switch the canary on.
The task does no database work (Airflow 3 tasks must not) and touches nothing: the probes read the
run and task records the scheduler and workers write anyway.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from airflow.sdk import DAG, task

from platform_dags import int_setting, setting

INTERVAL = timedelta(minutes=int_setting("canary_interval_minutes"))

with DAG(
    dag_id="system_canary",
    description="Proves the scheduler schedules and workers execute (read by platform_dags.probe)",
    schedule=INTERVAL,
    start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=INTERVAL,
    is_paused_upon_creation=False,
    tags=["system"],
    default_args={
        "owner": "platform",
        "retries": 0,  # a failed canary is information; the next run is the retry
        "priority_weight": 10_000,
        "weight_rule": "absolute",
        "pool": setting("canary_pool"),
        "execution_timeout": timedelta(minutes=1),
    },
) as dag:

    @task(task_id="chirp")
    def chirp() -> None:
        """Return at once: succeeding is the whole message."""

    chirp()
