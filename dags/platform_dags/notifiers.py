"""Airflow notifiers behind ``alerts``: the provider classes, imported only when an alert is sent.

The PagerDuty provider pulls aiohttp and the HTTP provider (about 0.1 s); keeping it out of DAG parsing
keeps a 3,000-task pipeline fast to parse. See ``platform_dags.alerts`` for what is sent and why.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from functools import cached_property
from typing import Any

from airflow.providers.pagerduty.hooks.pagerduty_events import PagerdutyEventsHook, prepare_event_data
from airflow.providers.pagerduty.notifications.pagerduty import PagerdutyNotifier
from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier

FAILED = {"failed", "upstream_failed"}
DONE = {"success", "skipped"}


class PagerdutyEventsRoutedHook(PagerdutyEventsHook):
    """PagerDuty events hook whose Events API base URL (and CA bundle) come from the connection.

    The provider's hook always talks to events.pagerduty.com; this one honours the connection's
    ``extra.base_url`` (or ``host``) and ``extra.ca_bundle``, for tests and for companies that reach
    PagerDuty through a TLS-inspecting proxy. The PagerDuty client accepts only ``https://`` URLs.
    Without either it behaves exactly like the provider's hook.
    """

    def __init__(self, integration_key: str | None = None, pagerduty_events_conn_id: str | None = None) -> None:
        super().__init__(integration_key=integration_key, pagerduty_events_conn_id=pagerduty_events_conn_id)
        self.base_url = self.ca_bundle = None
        if pagerduty_events_conn_id is not None:
            conn = self.get_connection(pagerduty_events_conn_id)
            extra = conn.extra_dejson or {}
            base = extra.get("base_url") or conn.host
            if base and "://" not in base:
                base = f"https://{base}" + (f":{conn.port}" if conn.port else "")
            self.base_url = base or None
            self.ca_bundle = extra.get("ca_bundle") or None

    def _events_client(self):
        import pagerduty

        kwargs = {}
        if self.ca_bundle:
            import ssl

            kwargs["verify"] = ssl.create_default_context(cafile=self.ca_bundle)
        return pagerduty.EventsApiV2Client(self.integration_key, base_url=self.base_url, **kwargs)

    def send_event(self, summary: str, severity: str, **kwargs) -> str:
        data = prepare_event_data(summary=summary, severity=severity, **kwargs)
        with self._events_client() as client:
            return client.send_event(**data)


def table_of(task_id: str) -> str:
    """The table a task belongs to: ``events.publish`` → ``events``; other ids are their own table."""
    return task_id.rsplit(".", 1)[0] if "." in task_id else task_id


def _ti(context: Any):
    return context.get("ti") or context.get("task_instance")


def _error_line(context: Any) -> str:
    error = context.get("exception")
    if error is None:
        return ""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"[:300]


class _Untemplated:
    """Notifiers here build their text from the context: nothing to render."""

    template_fields = ()

    def sends(self, context: Any) -> bool:
        """Whether this event has a message at all; a notifier with nothing to say needs no connection."""
        return True

    def render_template_fields(self, context, jinja_env=None) -> None:
        # Also avoids dag.test() handing DAG callbacks a SerializedDAG, which has no template env.
        return None


class TaskFailurePager(_Untemplated, PagerdutyNotifier):
    """Triggers a PagerDuty incident for a task that failed after its last retry."""

    def __init__(self, *, pipeline: str, service: str | None, pagerduty_events_conn_id: str, **kwargs) -> None:
        super().__init__(summary="", severity="error", pagerduty_events_conn_id=pagerduty_events_conn_id, **kwargs)
        self.pipeline = pipeline
        self.service = service

    @cached_property
    def hook(self) -> PagerdutyEventsRoutedHook:
        return PagerdutyEventsRoutedHook(pagerduty_events_conn_id=self.pagerduty_events_conn_id)

    def notify(self, context: Any) -> None:
        ti = _ti(context)
        tries = getattr(ti, "try_number", None)
        self.hook.send_event(
            summary=f"{self.pipeline}: table {table_of(ti.task_id)} failed ({ti.task_id}, after {tries} tries)"[:1024],
            severity="error",
            source="airflow",
            dedup_key=f"airflow/{ti.dag_id}/{ti.task_id}",
            component=table_of(ti.task_id),
            group=self.pipeline,
            custom_details={
                "dag_id": ti.dag_id,
                "task_id": ti.task_id,
                "run_id": ti.run_id,
                "try_number": tries,
                "error": _error_line(context),
                "service": self.service,
            },
        )


class PipelineSlackNotifier(_Untemplated, SlackWebhookNotifier):
    """One Slack message for a pipeline event: ``start``, ``retry``, ``failure`` or ``summary``."""
    KINDS = ("start", "retry", "failure", "summary")

    def __init__(
        self, *, kind: str, pipeline: str, channel: str | None, slack_webhook_conn_id: str, story: str = "tables", **kwargs
    ) -> None:
        if kind not in self.KINDS:
            raise ValueError(f"kind must be one of {self.KINDS}, got {kind!r}")
        super().__init__(slack_webhook_conn_id=slack_webhook_conn_id, text="", **kwargs)
        self.kind = kind
        self.pipeline = pipeline
        self.channel = channel
        self.story = story  # what the run is made of: "tables" or "transfers"

    def sends(self, context: Any) -> bool:
        """Whether this event has a message at all (only the run's first task announces the run)."""
        return self.kind != "start" or self._start_text(context) is not None

    def notify(self, context: Any) -> None:
        text = getattr(self, f"_{self.kind}_text")(context)
        if text:
            self.hook.send(text=text)

    def _start_text(self, context: Any) -> str | None:
        ti, dag = _ti(context), context.get("dag")
        if ti is None or dag is None or getattr(ti, "try_number", 1) != 1 or ti.task_id != first_task_id(dag):
            return None  # only the run's first task announces the run, once
        tables = len({table_of(task_id) for task_id in dag.task_ids})
        return f":arrow_forward: {self.pipeline} started ({tables} {self.story}) run {ti.run_id}"

    def _retry_text(self, context: Any) -> str:
        ti = _ti(context)
        return (
            f":warning: {self.pipeline}: {ti.task_id} failed on try {ti.try_number}, retrying. "
            f"{_error_line(context)}"
        ).strip()

    def _failure_text(self, context: Any) -> str:
        ti, what = _ti(context), self.story.removesuffix("s")
        return (
            f":x: {self.pipeline}: {what} {table_of(ti.task_id)} failed ({ti.task_id}, try {ti.try_number}). "
            f"{_error_line(context)}"
        ).strip()

    def _summary_text(self, context: Any) -> str:
        dag = context["dag"]
        run_id = context.get("run_id") or _ti(context).run_id
        states, started = run_states(dag.dag_id, run_id, context)
        tables: dict[str, set] = {}
        for task_id in dag.task_ids:
            tables.setdefault(table_of(task_id), set()).add(str(states.get(task_id) or "none"))
        failed = sorted(t for t, s in tables.items() if s & FAILED)
        done = sorted(t for t, s in tables.items() if s <= DONE)
        ok = not failed and len(done) == len(tables)
        parts = [
            f"{':white_check_mark:' if ok else ':rotating_light:'} {self.pipeline} finished: "
            f"{len(done)}/{len(tables)} {self.story} done, {len(failed)} failed"
        ]
        if self.story == "transfers":
            parts.append(copied_text(run_xcoms(dag.dag_id, run_id, list(dag.task_ids), context)))
        if started is not None:
            parts.append(f"in {format_duration(datetime.now(timezone.utc) - started)}")
        text = " ".join(parts) + f" (run {run_id})"
        if failed:
            text += "\nFailed: " + ", ".join(failed[:50]) + (" …" if len(failed) > 50 else "")
        return text


def first_task_id(dag) -> str:
    """The task that announces a run: the root that the scheduler starts first (priority, then id)."""
    roots = dag.roots or list(dag.tasks)
    return min(roots, key=lambda task: (-int(task.priority_weight), task.task_id)).task_id


def format_duration(delta) -> str:
    seconds = max(int(delta.total_seconds()), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{seconds:02d}s" if hours else f"{minutes}m{seconds:02d}s"


def run_states(dag_id: str, run_id: str, context: Any) -> tuple[dict[str, str], datetime | None]:
    """Task states of one run and the run's start time.

    In the DAG processor (where DAG callbacks run) and in workers this goes through the Task SDK's
    supervisor channel; ``dag.test()`` runs DAG callbacks in-process without one, and there the
    metadata DB is read directly (that process owns it anyway).
    """
    dag_run = context.get("dag_run")
    started = getattr(dag_run, "start_date", None)
    from airflow.sdk.execution_time import task_runner

    if getattr(task_runner, "SUPERVISOR_COMMS", None) is not None:
        result = task_runner.RuntimeTaskInstance.get_task_states(dag_id=dag_id, run_ids=[run_id])
        states = result.get(run_id, {})  # {run_id: {task_id: state}}
        return {task_id: str(state) for task_id, state in states.items()}, started

    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(TaskInstance.task_id, TaskInstance.state).filter_by(dag_id=dag_id, run_id=run_id)
        states = {task_id: str(state.value if hasattr(state, "value") else state) for task_id, state in rows}
        run = session.query(DagRun).filter_by(dag_id=dag_id, run_id=run_id).one_or_none()
        return states, started or (run.start_date if run else None)


def copied_text(results: dict[str, dict]) -> str:
    """`— copied 12 objects (3.4 MB), 1,988 up to date` from the transfer tasks' XCom counts."""
    objects = sum(r.get("copied", 0) for r in results.values())
    size = float(sum(r.get("copied_bytes", 0) for r in results.values()))
    unchanged = sum(r.get("unchanged", 0) for r in results.values())
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            break
        size /= 1000
    shown = f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
    return f"— copied {objects:,} objects ({shown}), {unchanged:,} up to date"


def run_xcoms(dag_id: str, run_id: str, task_ids: list[str], context: Any) -> dict[str, dict]:
    """The return values of a run's tasks (the transfers' counts): through the Task SDK channel like
    ``run_states``, or from the metadata DB under ``dag.test()``."""
    from airflow.sdk.execution_time import task_runner

    found: dict[str, dict] = {}
    if getattr(task_runner, "SUPERVISOR_COMMS", None) is not None:
        from airflow.sdk.bases.xcom import BaseXCom

        for task_id in task_ids:
            value = BaseXCom.get_one(key="return_value", dag_id=dag_id, task_id=task_id, run_id=run_id)
            if isinstance(value, dict):
                found[task_id] = value
        return found
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(XComModel.task_id, XComModel.value).filter_by(dag_id=dag_id, run_id=run_id, key="return_value")
        for task_id, value in rows:
            value = json.loads(value) if isinstance(value, str) else value
            if isinstance(value, dict):
                found[task_id] = value
    return found


def send_slack(conn_id: str, text: str) -> None:
    """Post one message to the Slack webhook of ``conn_id`` (used by the system DAGs)."""
    from airflow.providers.slack.hooks.slack_webhook import SlackWebhookHook

    SlackWebhookHook(slack_webhook_conn_id=conn_id).send(text=text)


def send_page(conn_id: str, *, summary: str, dedup_key: str, details: dict, severity: str = "error") -> str:
    """Trigger (or update, same dedup key) one PagerDuty incident (used by the system DAGs)."""
    hook = PagerdutyEventsRoutedHook(pagerduty_events_conn_id=conn_id)
    return hook.send_event(
        summary=summary[:1024], severity=severity, source="airflow", dedup_key=dedup_key, custom_details=details
    )
