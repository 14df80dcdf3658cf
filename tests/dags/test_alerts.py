"""Alerts reach loopback stand-ins for Slack and PagerDuty: progress per run, one page after the last retry."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from platform_dags.alerts import pipeline_callbacks, send_page
from platform_dags.etl import ExtractOperator, PublishOperator, TransformOperator

pytestmark = pytest.mark.integration


@pytest.fixture
def run_with_databases(etl_databases, run_dag):
    """``run_dag`` with a loaded sample source and an empty warehouse behind the connections."""
    return run_dag


def pipeline(dag_id: str, tables: dict[str, str | None], *, slack: bool = True, pagerduty: bool = True, slack_conn_id: str = "slack_test"):
    """A two-step-per-table pipeline wired with ``pipeline_callbacks`` the way the factory wires it."""
    from airflow.sdk import DAG, TaskGroup

    callbacks = pipeline_callbacks(
        dag_id,
        slack_conn_id=slack_conn_id,
        slack_channel="#etl" if slack else None,
        pagerduty_conn_id="pagerduty_{service}",
        pagerduty_service="test" if pagerduty else None,
    )
    default_args = {"retries": 2, "retry_delay": timedelta(seconds=1), **callbacks["task"]}
    with DAG(
        dag_id,
        schedule=None,
        start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),
        default_args=default_args,
        **callbacks["dag"],
    ) as dag:
        for name, transform in tables.items():
            with TaskGroup(name):
                extract = ExtractOperator(
                    task_id="extract", source_conn_id="sample_source", source_table=name,
                    destination_conn_id="warehouse", staging_table=f"{name}_raw",
                )
                step = TransformOperator(
                    task_id="transform", destination_conn_id="warehouse", sql=transform,
                    input_table=f"{name}_raw", output_table=f"{name}_out",
                )
                publish = PublishOperator(
                    task_id="publish", destination_conn_id="warehouse", staging_table=f"{name}_out", table=f"wh.{name}",
                )
                extract >> step >> publish
    return dag


def test_a_failing_table_retries_then_pages_once_and_slack_tells_the_story(run_with_databases, slack_receiver, pagerduty_receiver):
    dag = pipeline("alerts_story", {"groups": None, "events": "SELECT missing_column FROM {{ input }}"})
    run = run_with_databases(dag)
    assert str(run.state) == "failed"
    ti = run.get_task_instance("events.transform")
    assert ti.try_number == 3  # the first try and two retries

    pages = [r["json"] for r in pagerduty_receiver.requests]
    assert len(pages) == 1, pages
    page = pages[0]
    assert pagerduty_receiver.requests[0]["path"] == "/v2/enqueue"
    assert page["routing_key"] == "test-routing-key"
    assert page["event_action"] == "trigger"
    assert page["dedup_key"] == "airflow/alerts_story/events.transform"
    assert page["payload"]["severity"] == "error"
    assert "table events failed" in page["payload"]["summary"]
    assert "missing_column" in page["payload"]["custom_details"]["error"]

    texts = slack_receiver.texts()
    starts = [t for t in texts if "started" in t]
    retries = [t for t in texts if "retrying" in t]
    failures = [t for t in texts if t.startswith(":x:")]
    summaries = [t for t in texts if "finished" in t]
    assert len(starts) == 1 and "alerts_story started (2 tables)" in starts[0]
    assert len(retries) == 2 and all("events.transform" in t for t in retries)
    assert len(failures) == 1 and "table events failed" in failures[0]
    assert len(summaries) == 1
    assert "1/2 tables done, 1 failed" in summaries[0] and "Failed: events" in summaries[0]
    # Progress, not chatter: a message per event of the run, none per table that went well.
    assert len(texts) == 5
    assert texts[0] == starts[0] and texts[-1] == summaries[0]


def test_a_clean_run_sends_start_and_summary_only(run_with_databases, slack_receiver, pagerduty_receiver):
    run = run_with_databases(pipeline("alerts_clean", {"groups": None, "members": "SELECT id, city FROM {{ input }}"}))
    assert str(run.state) == "success"
    texts = slack_receiver.texts()
    assert len(texts) == 2, texts
    assert "alerts_clean started (2 tables)" in texts[0]
    assert "2/2 tables done, 0 failed in" in texts[1]
    assert pagerduty_receiver.requests == []


def test_without_routing_no_callbacks_are_wired():
    assert pipeline_callbacks("p", "slack_default", None, "pagerduty_{service}", None) == {"dag": {}, "task": {}}
    only_pager = pipeline_callbacks("p", "slack_default", None, "pagerduty_{service}", "dwh")
    assert only_pager["dag"] == {} and list(only_pager["task"]) == ["on_failure_callback"]


def test_the_pagerduty_base_url_comes_from_the_connection(airflow_db, pagerduty_receiver):
    dedup = send_page("pagerduty_test", summary="queued too long", dedup_key="k1", details={"n": 1})
    assert dedup == "k1"
    assert pagerduty_receiver.requests[0]["json"]["payload"]["custom_details"] == {"n": 1}


def test_the_summary_reads_task_states_through_the_task_sdk_channel(run_with_databases, slack_receiver):
    """In the DAG processor the summary asks the execution API for task states, not the database."""
    import uuid

    import psutil
    import structlog
    from airflow.sdk.execution_time import supervisor as sup

    from platform_dags.notifiers import PipelineSlackNotifier

    dag = pipeline("alerts_channel", {"groups": None, "events": "SELECT nope FROM {{ input }}"}, slack=False, pagerduty=False)
    run = run_with_databases(dag)
    process = sup.InProcessTestSupervisor(
        id=uuid.uuid4(), pid=psutil.Process().pid, process=psutil.Process(),
        process_log=structlog.get_logger(), client=sup.InProcessTestSupervisor._api_client(dag),
    )
    comms = sup.InProcessSupervisorComms(supervisor=process)
    process.comms = comms
    notifier = PipelineSlackNotifier(kind="summary", pipeline="alerts_channel", channel="#etl", slack_webhook_conn_id="slack_test")
    with sup.set_supervisor_comms(comms):
        notifier({"dag": dag, "run_id": run.run_id, "dag_run": run})
    (text,) = slack_receiver.texts()
    assert "alerts_channel finished: 1/2 tables done, 1 failed" in text and "Failed: events" in text


def test_routing_to_a_missing_connection_is_one_warning_not_an_error(airflow_db, caplog):
    """Locally there is no Slack: a pipeline routed to #etl logs one warning per alert and carries on."""
    callbacks = pipeline_callbacks(
        "quiet", slack_conn_id="slack_nowhere", slack_channel="#etl", pagerduty_conn_id=None, pagerduty_service=None
    )
    retry_alert = callbacks["task"]["on_retry_callback"][0]
    with caplog.at_level("DEBUG"):
        retry_alert({})  # the connection is looked up before the context is read
    problems = [r for r in caplog.records if r.levelname in ("WARNING", "ERROR")]
    assert [(r.levelname, r.getMessage()) for r in problems] == [
        ("WARNING", "alert not sent (PipelineSlackNotifier): The conn_id `slack_nowhere` isn't defined")
    ]


def test_a_run_routed_to_a_missing_slack_connection_says_so_per_lost_message_not_per_task(run_with_databases, caplog):
    """Six tasks, no Slack connection: the run's start and its summary are lost, and each says so once."""
    dag = pipeline("alerts_unrouted", {"groups": None, "members": None}, pagerduty=False, slack_conn_id="slack_nowhere")
    with caplog.at_level("WARNING"):
        run = run_with_databases(dag)
    assert str(run.state) == "success"
    lost = [r.getMessage() for r in caplog.records if r.getMessage().startswith("alert not sent")]
    assert lost == ["alert not sent (PipelineSlackNotifier): The conn_id `slack_nowhere` isn't defined"] * 2, lost
