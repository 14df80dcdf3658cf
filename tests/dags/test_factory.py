"""A good pipeline file becomes the DAG its YAML describes: tasks, order, priorities, retries, pool, timeouts."""

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from platform_dags.factory import build_dag, load_pipeline

GOOD = """\
description: Nightly copy of the shop database
schedule: "0 2 * * *"
start_date: 2025-03-01
owner: data-platform
tags: [shop]
alerts:
  slack_channel: "#etl"
  pagerduty_service: data-platform
defaults:
  retries: 3
  retry_delay_minutes: 2
  retry_exponential_backoff: true
  max_retry_delay_minutes: 20
  pool: etl
  execution_timeout_minutes: 45
  batch_size: 500
tables:
  - name: customers
    source: {conn_id: shop, table: public.customers}
    destination: {conn_id: warehouse, table: shop.customers}
    priority: 10
  - name: orders
    source: {conn_id: shop, sql: "SELECT id, customer_id, total FROM orders"}
    destination: {conn_id: warehouse, table: shop.orders, mode: append}
    transform: "SELECT customer_id, sum(total) AS total FROM {{ input }} GROUP BY customer_id"
    priority: 5
    depends_on: [customers]
  - name: products
    source: {conn_id: shop, table: products}
    destination: {conn_id: warehouse, table: shop.products}
  - name: order_report
    source: {conn_id: warehouse, table: shop.orders}
    destination: {conn_id: warehouse, table: report.orders}
    depends_on: [orders, products]
"""


@pytest.fixture
def shop(tmp_path) -> Path:
    path = tmp_path / "shop_nightly.yaml"
    path.write_text(GOOD)
    return path


def test_dag_id_is_the_file_name_and_dag_settings_come_from_the_yaml(shop):
    dag = build_dag(load_pipeline(shop))
    assert dag.dag_id == "shop_nightly"
    assert dag.description == "Nightly copy of the shop database"
    assert dag.timetable.expression == "0 2 * * *"
    assert dag.start_date == datetime(2025, 3, 1, tzinfo=timezone.utc)
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert set(dag.tags) == {"pipeline", "shop"}
    assert dag.owner == "data-platform"


def test_each_table_is_extract_transform_publish_in_a_group_of_its_own(shop):
    dag = build_dag(load_pipeline(shop))
    tables = ["customers", "orders", "products", "order_report"]
    assert sorted(dag.task_ids) == sorted(f"{t}.{s}" for t in tables for s in ("extract", "transform", "publish"))
    for t in tables:
        assert dag.get_task(f"{t}.transform").upstream_task_ids == {f"{t}.extract"}
        assert dag.get_task(f"{t}.publish").upstream_task_ids == {f"{t}.transform"}


def test_a_dependency_makes_the_extract_wait_for_the_upstream_publish(shop):
    dag = build_dag(load_pipeline(shop))
    assert dag.get_task("customers.extract").upstream_task_ids == set()
    assert dag.get_task("orders.extract").upstream_task_ids == {"customers.publish"}
    assert dag.get_task("order_report.extract").upstream_task_ids == {"orders.publish", "products.publish"}


def test_priority_is_an_absolute_weight_on_all_three_tasks_of_a_table(shop):
    dag = build_dag(load_pipeline(shop))
    weights = {t.task_id: (t.priority_weight, t.weight_rule) for t in dag.tasks}
    for step in ("extract", "transform", "publish"):
        assert weights[f"customers.{step}"] == (10, "absolute")
        assert weights[f"orders.{step}"] == (5, "absolute")
        assert weights[f"products.{step}"] == (1, "absolute")  # the default


def test_retries_pool_and_timeouts_apply_to_every_task(shop):
    dag = build_dag(load_pipeline(shop))
    for task in dag.tasks:
        assert task.retries == 3
        assert task.retry_delay == timedelta(minutes=2)
        assert task.retry_exponential_backoff
        assert task.max_retry_delay == timedelta(minutes=20)
        assert task.pool == "etl"
        assert task.execution_timeout == timedelta(minutes=45)
        assert task.owner == "data-platform"


def test_operators_get_source_destination_transform_and_matching_staging_tables(shop):
    dag = build_dag(load_pipeline(shop))
    extract, transform, publish = (dag.get_task(f"orders.{s}") for s in ("extract", "transform", "publish"))
    assert (extract.source_conn_id, extract.source_table, extract.source_sql) == ("shop", None, "SELECT id, customer_id, total FROM orders")
    assert (extract.destination_conn_id, extract.batch_size) == ("warehouse", 500)
    assert transform.sql.startswith("SELECT customer_id, sum(total)")
    assert (publish.table, publish.mode) == ("shop.orders", "append")
    # the data flows through staging: each step reads what the one before wrote
    assert transform.input_table == extract.staging_table
    assert publish.staging_table == transform.output_table
    assert dag.get_task("customers.transform").sql is None  # no transform: rows copied as they are
    assert dag.get_task("customers.extract").source_table == "public.customers"
    assert dag.get_task("customers.publish").mode == "replace"  # the default


def test_alert_routing_adds_slack_progress_and_pagerduty_callbacks(shop, tmp_path):
    dag = build_dag(load_pipeline(shop))
    assert dag.on_success_callback and dag.on_failure_callback  # the Slack end-of-run summary
    quiet = tmp_path / "quiet.yaml"
    quiet.write_text(GOOD.replace('  slack_channel: "#etl"\n  pagerduty_service: data-platform\n', "  {}\n").replace("alerts:\n  {}", "alerts: {}"))
    quiet_dag = build_dag(load_pipeline(quiet))
    assert not quiet_dag.on_success_callback and not quiet_dag.on_failure_callback
    assert not quiet_dag.get_task("orders.extract").on_failure_callback


def test_defaults_apply_when_the_yaml_leaves_them_out(tmp_path):
    path = tmp_path / "minimal.yaml"
    path.write_text("schedule: null\nowner: me\ntables:\n  - name: a\n    source: {conn_id: s, table: a}\n    destination: {conn_id: w, table: a}\n")
    pipeline = load_pipeline(path)
    dag = build_dag(pipeline)
    task = dag.get_task("a.extract")
    assert dag.timetable.can_be_scheduled is False  # schedule: null = manual runs only
    assert dag.start_date == datetime(2024, 1, 1, tzinfo=timezone.utc)
    assert (task.retries, task.retry_delay, task.pool, task.execution_timeout) == (2, timedelta(minutes=5), "default_pool", timedelta(hours=1))
    assert task.batch_size == 10_000


def test_a_name_equal_to_the_file_name_is_accepted(tmp_path):
    path = tmp_path / "shop_nightly.yaml"
    path.write_text("name: shop_nightly\n" + GOOD)
    assert build_dag(load_pipeline(path)).dag_id == "shop_nightly"


def test_shipped_pipelines_are_valid():
    shipped = sorted((Path(__file__).resolve().parents[2] / "dags" / "pipelines").glob("*.yaml"))
    assert shipped, "the project ships example pipelines"
    for path in shipped:
        pipeline = load_pipeline(path)
        dag = build_dag(pipeline)
        assert dag.dag_id == path.stem
        # three tasks per table (ETL), one per transfer (S3 -> GCS), one per job of a Spark (`jobs:`) pipeline
        if hasattr(pipeline, "tables"):
            expected = 3 * len(pipeline.tables)
        else:
            expected = len(pipeline.transfers) if hasattr(pipeline, "transfers") else len(pipeline.jobs)
        assert len(dag.tasks) == expected, path.name
