"""ETL operators move real rows between two PostgreSQL databases, in batches, through staging tables."""

from __future__ import annotations

from datetime import datetime, timezone

import psycopg2
import pytest

from platform_dags.etl import ExtractOperator, PublishOperator, TransformOperator
from platform_dags.sample_data import COUNTS

pytestmark = pytest.mark.integration


@pytest.fixture
def databases(etl_databases, run_dag):
    return (*etl_databases, run_dag)


def query(uri: str, sql: str) -> list[tuple] | None:
    with psycopg2.connect(uri) as conn, conn.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchall() if cursor.description else None


def table_dag(dag_id: str, tables: list[dict], batch_size: int):
    """A DAG with the three ETL steps per table, in a TaskGroup per table, as the factory builds it."""
    from airflow.sdk import DAG, TaskGroup

    with DAG(dag_id, schedule=None, start_date=datetime(2024, 1, 1, tzinfo=timezone.utc), catchup=False) as dag:
        groups = {}
        for spec in tables:
            with TaskGroup(spec["name"]) as group:
                extract = ExtractOperator(
                    task_id="extract",
                    source_conn_id="sample_source",
                    destination_conn_id="warehouse",
                    staging_table=f"{spec['name']}_raw",
                    batch_size=batch_size,
                    **spec["source"],
                )
                transform = TransformOperator(
                    task_id="transform",
                    destination_conn_id="warehouse",
                    sql=spec.get("transform"),
                    input_table=f"{spec['name']}_raw",
                    output_table=f"{spec['name']}_out",
                )
                publish = PublishOperator(
                    task_id="publish",
                    destination_conn_id="warehouse",
                    staging_table=f"{spec['name']}_out",
                    table=spec["table"],
                    mode=spec.get("mode", "replace"),
                )
                extract >> transform >> publish
            groups[spec["name"]] = group
        for spec in tables:
            for upstream in spec.get("depends_on", []):
                groups[upstream] >> groups[spec["name"]]
    return dag


ATTENDANCE_SQL = """
    SELECT g.id AS group_id, g.name AS group_name, count(*) AS yes_rsvps
    FROM {{ input }} r JOIN wh.events e ON e.id = r.event_id JOIN wh.groups g ON g.id = e.group_id
    WHERE r.response = 'yes' GROUP BY g.id, g.name
"""


def test_rows_move_in_batches_and_the_transform_matches_an_independent_query(databases, capfd):
    source, warehouse, run_dag = databases
    dag = table_dag(
        "etl_move_rows",
        [
            {"name": "groups", "source": {"source_table": "groups"}, "table": "wh.groups"},
            {"name": "events", "source": {"source_table": "events"}, "table": "wh.events", "depends_on": ["groups"]},
            {
                "name": "attendance",
                "source": {"source_sql": "SELECT id, event_id, member_id, response FROM rsvps"},
                "transform": ATTENDANCE_SQL,
                "table": "wh.attendance",
                "depends_on": ["events"],
            },
        ],
        batch_size=700,  # 4,000 RSVPs → 6 batches
    )
    run = run_dag(dag)
    assert str(run.state) == "success"

    for table in ("groups", "events"):
        assert query(warehouse, f"SELECT * FROM wh.{table} ORDER BY id") == query(source, f"SELECT * FROM {table} ORDER BY id")
    # Column types survive the trip (timestamps stay timestamps, not text).
    assert query(warehouse, "SELECT data_type FROM information_schema.columns WHERE table_schema='wh' AND table_name='events' AND column_name='starts_at'") == [("timestamp without time zone",)]

    expected = query(
        source,
        "SELECT g.id, g.name, count(*) FROM rsvps r JOIN events e ON e.id = r.event_id JOIN groups g ON g.id = e.group_id"
        " WHERE r.response = 'yes' GROUP BY g.id, g.name ORDER BY g.id",
    )
    assert query(warehouse, "SELECT group_id, group_name, yes_rsvps FROM wh.attendance ORDER BY group_id") == expected
    assert sum(n for _, _, n in expected) > 2000  # a real aggregate, not an empty join

    out = capfd.readouterr().out
    assert "Extracted 4000 rows in 6 batches" in out
    assert "fast_executemany" not in out  # the driver has nothing to warn about on every task
    # Nothing is left behind in staging once a run published everything.
    assert query(warehouse, "SELECT count(*) FROM pg_tables WHERE schemaname = 'staging'") == [(0,)]


def test_replace_refreshes_and_append_accumulates(databases):
    source, warehouse, run_dag = databases
    tables = [
        {"name": "members", "source": {"source_table": "members"}, "table": "wh.members"},
        {"name": "member_log", "source": {"source_sql": "SELECT id, city FROM members WHERE id <= 10"}, "table": "wh.member_log", "mode": "append"},
    ]
    assert str(run_dag(table_dag("etl_modes", tables, batch_size=500)).state) == "success"
    query(source, "UPDATE members SET city = 'Oslo' WHERE id = 1")
    # A new run (new run id, new staging names) of the same pipeline.
    assert str(run_dag(table_dag("etl_modes", tables, batch_size=500), logical_date=datetime(2024, 2, 1, tzinfo=timezone.utc)).state) == "success"

    assert query(warehouse, "SELECT count(*) FROM wh.members") == [(COUNTS["members"],)]
    assert query(warehouse, "SELECT city FROM wh.members WHERE id = 1") == [("Oslo",)]
    assert query(warehouse, "SELECT count(*), count(DISTINCT id) FROM wh.member_log") == [(20, 10)]


def test_a_bad_transform_fails_its_task_and_leaves_the_published_table_alone(databases):
    source, warehouse, run_dag = databases
    good = [{"name": "groups", "source": {"source_table": "groups"}, "table": "wh.groups_bad"}]
    assert str(run_dag(table_dag("etl_bad", good, batch_size=100)).state) == "success"
    bad = [{**good[0], "transform": "SELECT no_such_column FROM {{ input }}"}]
    run = run_dag(table_dag("etl_bad", bad, batch_size=100), logical_date=datetime(2024, 3, 1, tzinfo=timezone.utc))
    assert str(run.state) == "failed"
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert states == {"groups.extract": "success", "groups.transform": "failed", "groups.publish": "upstream_failed"}
    assert query(warehouse, "SELECT count(*) FROM wh.groups_bad") == [(COUNTS["groups"],)]


def test_operators_refuse_unsafe_names_when_the_dag_is_built():
    with pytest.raises(ValueError, match="source_table must be a lower-case table name"):
        ExtractOperator(task_id="x", source_conn_id="a", destination_conn_id="b", source_table="x; DROP TABLE y", staging_table="s")
    with pytest.raises(ValueError, match="exactly one of source_table or source_sql"):
        ExtractOperator(task_id="x", source_conn_id="a", destination_conn_id="b", staging_table="s")
    with pytest.raises(ValueError, match="mode must be 'replace' or 'append'"):
        PublishOperator(task_id="x", destination_conn_id="b", staging_table="s", table="t", mode="merge")


def test_an_empty_source_publishes_an_empty_table_with_the_source_columns(databases):
    _, warehouse, run_dag = databases
    tables = [{"name": "none", "source": {"source_sql": "SELECT id, name FROM groups WHERE false"}, "table": "wh.no_groups"}]
    assert str(run_dag(table_dag("etl_empty", tables, batch_size=10)).state) == "success"
    assert query(warehouse, "SELECT count(*) FROM wh.no_groups") == [(0,)]
    assert query(
        warehouse,
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'wh'"
        " AND table_name = 'no_groups' ORDER BY ordinal_position",
    ) == [("id", "integer"), ("name", "text")]


def test_parallel_first_run_tables_do_not_race_on_new_schemas(databases):
    """The first run of a pipeline extracts and publishes several tables at once into schemas that do
    not exist yet; CREATE SCHEMA IF NOT EXISTS alone lets one of them fail on a duplicate key."""
    from concurrent.futures import ThreadPoolExecutor
    from types import SimpleNamespace

    source, warehouse, _ = databases
    tables = ["members", "groups", "events", "rsvps"]
    context = {"dag": SimpleNamespace(dag_id="race"), "run_id": "manual__first"}
    extracts = [
        ExtractOperator(
            task_id=f"{name}_extract", source_conn_id="sample_source", destination_conn_id="warehouse",
            source_table=name, staging_table=f"{name}_raw", batch_size=5_000,
        )
        for name in tables
    ]
    publishes = [
        PublishOperator(
            task_id=f"{name}_publish", destination_conn_id="warehouse",
            staging_table=f"{name}_raw", table=f"fresh_schema.{name}",
        )
        for name in tables
    ]
    for batch in (extracts, publishes):
        with ThreadPoolExecutor(len(batch)) as pool:
            for future in [pool.submit(op.execute, context) for op in batch]:
                future.result()  # re-raises a task's failure
    for name in tables:
        assert query(warehouse, f"SELECT count(*) FROM fresh_schema.{name}") == query(source, f"SELECT count(*) FROM {name}")
