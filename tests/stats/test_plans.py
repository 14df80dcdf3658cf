"""Every stats/progress query stays on Airflow's indexes over a busy year (a million task instances)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from bulk import seed_bulk
from infra import progress, stats

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def million(postgres_server) -> str:
    uri = postgres_server.create_database("stats_million")
    env = {**os.environ, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": uri.replace("postgresql://", "postgresql+psycopg2://")}
    migrated = subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, capture_output=True, text=True, timeout=600)
    assert migrated.returncode == 0, migrated.stderr[-2000:]
    assert seed_bulk(uri) >= 1_000_000
    return uri


def _queries():
    start = datetime.now(timezone.utc) - timedelta(days=30)
    return {
        "per DAG": (stats.DAGS_SQL, (start,)),
        "per task": (stats.TASKS_SQL, ("bulk_7", start, "bulk_7")),
        "daily, all DAGs": (stats.DAILY_SQL, (start, None, None)),
        "daily, one DAG": (stats.DAILY_SQL, (start, "bulk_7", "bulk_7")),
        "progress: latest run": (progress.LATEST_SQL, ("bulk_7",)),
        "progress: given run": (progress.RUN_SQL, ("bulk_7", "scheduled__3")),
        "progress: its tasks": (progress.TASKS_SQL, ("bulk_7", "scheduled__3")),
    }


@pytest.mark.parametrize("name", list(_queries()))
def test_no_query_scans_task_instance_or_dag_run(million, name):
    sql, params = _queries()[name]
    with psycopg.connect(million) as conn:
        plan = "\n".join(row[0] for row in conn.execute("EXPLAIN " + sql, params).fetchall())
    assert "Seq Scan on task_instance" not in plan, plan
    assert "Seq Scan on dag_run" not in plan, plan
    if "task_instance" in sql:
        assert "ti_dag_run" in plan, plan
