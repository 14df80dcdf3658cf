"""Alerts for pipelines: Slack progress per run, PagerDuty after the last retry.

What a pipeline run sends (``pipeline_callbacks`` wires it):

* Slack, one message each: the run started (sent by the run's first root task on its first try),
  a table failed or is being retried (as it happens), and an end summary (tables done / failed,
  duration) from the DAG's success/failure callback. Never one message per table that succeeds.
* PagerDuty Events API v2, ``trigger`` from the task ``on_failure_callback``. Airflow calls that
  callback only once the task failed for good (retries go to ``on_retry_callback``), so a table pages
  once, after its last retry. The dedup key is ``airflow/<dag_id>/<task_id>``: a table broken three
  nights running stays *one* open incident instead of three pages; once the incident is resolved a new
  failure opens a new one.

Routing: an incoming Slack webhook posts to the channel it was created for, so the channel is chosen
by the connection. ``slack_conn_id`` and ``pagerduty_conn_id`` may contain ``{channel}`` /
``{service}``, filled from the pipeline's ``alerts`` (e.g. ``pagerduty_{service}`` → one connection,
i.e. one integration key, per PagerDuty service).

Notifiers here compute their text in ``notify`` from the callback context instead of Jinja templates:
Airflow renders notifier templates in place, and the same callback object is shared by every task
that got it through ``default_args``.

Task ids of the form ``<table>.<step>`` (a TaskGroup per table) are counted per table in summaries.
The notifier classes live in ``platform_dags.notifiers`` and are imported on the first alert only.
"""

from __future__ import annotations

from typing import Any


class _Deferred:
    """A DAG/task callback that builds its notifier on first use (no provider import while parsing)."""

    def __init__(self, factory: str, **kwargs: Any) -> None:
        self.factory = factory
        self.kwargs = kwargs
        self._notifier = None

    def __call__(self, context: Any) -> None:
        from airflow.sdk import BaseHook
        from airflow.sdk.exceptions import AirflowNotFoundException

        if self._notifier is None:
            from platform_dags import notifiers

            self._notifier = getattr(notifiers, self.factory)(**self.kwargs)
        if not self._notifier.sends(context):
            return  # e.g. the run-start message from any task but the first: no connection needed
        try:
            # Checked first: Airflow's notifiers log a missing connection as an error with a traceback.
            for key, value in self.kwargs.items():
                if key.endswith("_conn_id"):
                    BaseHook.get_connection(value)
            self._notifier(context)
        except AirflowNotFoundException as missing:
            # Routing names a connection this environment does not have (e.g. local without Slack):
            # one line when a message is lost (the run's start, its summary, a failure), not one per task.
            import logging

            logging.getLogger(__name__).warning("alert not sent (%s): %s", self.factory, missing)

    def __repr__(self) -> str:
        return f"{self.factory}({', '.join(f'{k}={v!r}' for k, v in self.kwargs.items())})"


def send_slack(conn_id: str, text: str) -> None:
    """Post one message to the Slack webhook of ``conn_id`` (used by the system DAGs)."""
    from platform_dags.notifiers import send_slack as send

    send(conn_id, text)


def send_page(conn_id: str, *, summary: str, dedup_key: str, details: dict, severity: str = "error") -> str:
    """Trigger (or update: same dedup key) one PagerDuty incident (used by the system DAGs)."""
    from platform_dags.notifiers import send_page as send

    return send(conn_id, summary=summary, dedup_key=dedup_key, details=details, severity=severity)


def pipeline_callbacks(
    pipeline_name: str,
    slack_conn_id: str | None,
    slack_channel: str | None,
    pagerduty_conn_id: str | None,
    pagerduty_service: str | None,
    story: str = "tables",
) -> dict[str, dict[str, list]]:
    """Callbacks for one pipeline: ``{"dag": {...DAG kwargs}, "task": {...default_args}}``.

    `story` is what the messages count ("tables"; "transfers" adds the objects and bytes copied).
    Slack parts exist only with a channel (and a connection id), PagerDuty parts only with a service;
    without routing both dicts are empty.
    """
    dag: dict[str, list] = {}
    task: dict[str, list] = {}
    if slack_channel and slack_conn_id:
        conn = slack_conn_id.format(channel=slack_channel.lstrip("#"))

        def slack(kind: str) -> _Deferred:
            return _Deferred(
                "PipelineSlackNotifier", kind=kind, pipeline=pipeline_name, channel=slack_channel, slack_webhook_conn_id=conn,
                story=story,
            )

        summary = slack("summary")
        dag = {"on_success_callback": [summary], "on_failure_callback": [summary]}
        task = {
            "on_execute_callback": [slack("start")],
            "on_retry_callback": [slack("retry")],
            "on_failure_callback": [slack("failure")],
        }
    if pagerduty_service and pagerduty_conn_id:
        pager = _Deferred(
            "TaskFailurePager",
            pipeline=pipeline_name,
            service=pagerduty_service,
            pagerduty_events_conn_id=pagerduty_conn_id.format(service=pagerduty_service),
        )
        task.setdefault("on_failure_callback", []).append(pager)
    return {"dag": dag, "task": task}
