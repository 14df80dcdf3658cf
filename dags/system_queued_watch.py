"""system_queued_watch: every 10 minutes, one alert listing task instances stuck in ``queued``.

``[scheduler] task_queued_timeout`` (set from the environment) fails and retries tasks queued too
long; this watch warns earlier (``[platform] queued_warn_minutes``, default 15) so someone looks at
the workers before the timeout hits. It reads the REST API v2, never the metadata DB (Airflow 3 tasks
must not), and sends ONE Slack message and ONE PagerDuty event per watch run. The PagerDuty dedup key
is fixed per environment, so repeated watches update the open incident instead of paging again; the
Slack message is sent only when the set of stuck task instances changed since the previous run.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from airflow.sdk import DAG, task

with DAG(
    dag_id="system_queued_watch",
    description="Alerts once about task instances queued longer than [platform] queued_warn_minutes",
    schedule=timedelta(minutes=10),
    start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    is_paused_upon_creation=False,
    tags=["system"],
    default_args={
        "owner": "platform",
        "retries": 1,
        "retry_delay": timedelta(minutes=1),
        "priority_weight": 9_000,
        "weight_rule": "absolute",
        "execution_timeout": timedelta(minutes=5),
    },
) as dag:

    @task(task_id="watch")
    def watch(ti=None) -> list[str]:
        """List stuck task instances; alert when there are new ones. Returns their keys (for the next run)."""
        from platform_dags.queued import run_watch

        previous = None
        try:  # the previous run's keys: alert only when the set changed
            previous = ti.xcom_pull(task_ids="watch", include_prior_dates=True)
        except Exception:  # noqa: BLE001 - no history is not a reason to stay silent
            previous = None
        return run_watch(previous)

    watch()
