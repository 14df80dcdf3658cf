"""Turn a validated Pipeline into an Airflow DAG: a task group per table, extract → transform → publish.

`B depends_on A` makes B's extract wait for A's publish. A table's three tasks share its priority
as an *absolute* priority weight, so "higher runs first when slots are scarce" holds exactly (the
default rule would add up the weights of downstream tasks). Retry, pool and timeout settings go in
`default_args`; alert callbacks come from `platform_dags.alerts`, routed by the `[platform]` config.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from platform_dags.factory.spec import Pipeline

# Task id of each step inside a table's group: `<table>.extract`, `<table>.transform`, `<table>.publish`
# (alerts count tables by that prefix).
STEPS = ("extract", "transform", "publish")


def new_dag(pipeline, story: str = "tables", *, tags: tuple[str, ...] = (), macros: dict | None = None):
    """An empty DAG with what every pipeline kind shares: schedule, retries, alert callbacks.

    `story` names what the Slack messages count ("tables", "transfers", "jobs").
    """
    from airflow.sdk import DAG

    from platform_dags import alerts, setting

    callbacks = alerts.pipeline_callbacks(
        pipeline.name,
        slack_conn_id=setting("slack_conn_id"),
        slack_channel=pipeline.alerts.slack_channel or setting("slack_channel") or None,
        pagerduty_conn_id=setting("pagerduty_conn_id"),
        pagerduty_service=pipeline.alerts.pagerduty_service or setting("pagerduty_service") or None,
        story=story,
    )
    default_args = {**default_args_of(pipeline), "weight_rule": "absolute", **callbacks["task"]}
    start = pipeline.start_date
    dag = DAG(
        dag_id=pipeline.name,
        description=pipeline.description,
        schedule=pipeline.schedule,
        start_date=datetime(start.year, start.month, start.day, tzinfo=timezone.utc),
        catchup=False,
        max_active_runs=1,  # a run (nightly load, hourly copy) must not overlap its own previous run
        default_args=default_args,
        tags=["pipeline", *tags, *pipeline.tags],
        user_defined_macros=macros,
        **callbacks["dag"],
    )
    return dag


def build_dag(pipeline: Pipeline):
    """The DAG for `pipeline` (validated by `load_pipeline`, so its name is set)."""
    if hasattr(pipeline, "jobs"):  # the `jobs:` kind (Spark)
        from platform_dags.factory.spark_build import build_spark_dag

        return build_spark_dag(pipeline)
    if hasattr(pipeline, "transfers"):  # the `transfers:` kind (S3 -> GCS)
        from platform_dags.factory.transfer import build_transfer_dag

        return build_transfer_dag(pipeline)
    from airflow.sdk import TaskGroup

    from platform_dags.etl import ExtractOperator, PublishOperator, TransformOperator

    d = pipeline.defaults
    dag = new_dag(pipeline)
    publish = {}
    extract = {}
    with dag:
        for t in pipeline.tables:
            with TaskGroup(t.name):
                weight = t.priority
                e = ExtractOperator(
                    task_id="extract",
                    source_conn_id=t.source.conn_id,
                    source_table=t.source.table,
                    source_sql=t.source.sql,
                    destination_conn_id=t.destination.conn_id,
                    staging_table=f"{t.name}_raw",
                    batch_size=d.batch_size,
                    priority_weight=weight,
                )
                x = TransformOperator(
                    task_id="transform",
                    destination_conn_id=t.destination.conn_id,
                    sql=t.transform,
                    input_table=f"{t.name}_raw",
                    output_table=f"{t.name}_out",
                    priority_weight=weight,
                )
                p = PublishOperator(
                    task_id="publish",
                    destination_conn_id=t.destination.conn_id,
                    staging_table=f"{t.name}_out",
                    table=t.destination.table,
                    mode=t.destination.mode,
                    priority_weight=weight,
                )
                e >> x >> p
            extract[t.name], publish[t.name] = e, p
        for t in pipeline.tables:
            if t.depends_on:
                extract[t.name].set_upstream([publish[dep] for dep in t.depends_on])
    return dag


def default_args_of(pipeline) -> dict:
    """Retry, pool and timeout settings of `defaults:`, shared by every pipeline kind."""
    d = pipeline.defaults
    return {
        "owner": pipeline.owner,
        "retries": d.retries,
        "retry_delay": timedelta(minutes=d.retry_delay_minutes),
        "retry_exponential_backoff": d.retry_exponential_backoff,
        "max_retry_delay": timedelta(minutes=d.max_retry_delay_minutes),
        "pool": d.pool,
        "execution_timeout": timedelta(minutes=d.execution_timeout_minutes),
    }
