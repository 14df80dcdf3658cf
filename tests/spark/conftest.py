"""Fixtures for the Spark pipeline tests: real local Spark (spark-submit from the pyspark wheel).

`spark_local` points the `[platform]` Spark settings at a `local[2]` master with Debian's PostgreSQL
JDBC driver, the way `environments/local.yaml` does through the toolkit. Without Java or the driver
the tests fail (CI must not skip them): `.ci/run` installs both.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

JDBC_JAR = Path("/usr/share/java/postgresql.jar")


@pytest.fixture
def spark_local(monkeypatch):
    """Spark settings for target local; fails with the fix when Java or the JDBC driver is missing."""
    assert shutil.which("java"), "Java is needed for local Spark: apt-get install openjdk-17-jre-headless"
    assert JDBC_JAR.is_file(), f"{JDBC_JAR} is missing: apt-get install libpostgresql-jdbc-java"
    monkeypatch.setenv("AIRFLOW__PLATFORM__SPARK_TARGET", "local")
    monkeypatch.setenv("AIRFLOW__PLATFORM__SPARK_CONN_ID", "spark_test")
    monkeypatch.setenv("AIRFLOW__PLATFORM__SPARK_JARS", str(JDBC_JAR))
    monkeypatch.setenv("AIRFLOW_CONN_SPARK_TEST", json.dumps({"conn_type": "spark", "host": "local[2]"}))


@pytest.fixture
def warehouse(postgres_server, airflow_db, monkeypatch, tmp_path):
    """URI of an empty warehouse database behind connection `warehouse`; the DAGs folder is an empty tmp
    dir (dag.test() syncs the whole DAGs folder into the metadata DB; these tests need only their DAG)."""
    uri = postgres_server.create_database("spark_warehouse")
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", uri.replace("postgresql://", "postgres://"))
    empty = tmp_path / "empty_dags"
    empty.mkdir()
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(empty))
    return uri
