"""Fixtures for the Airflow-side tests that move data."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

import platform_schema

# Child processes (the DagBag import of `invoke dags.validate`) import platform_schema like Airflow
# does: as an installed package. An editable install made before the package existed does not list
# it, so give children this checkout's copy alone (a symlink), never the whole project (infra/ must
# stay out of the DAGs' reach).
_SHARED = Path(tempfile.mkdtemp(prefix="platform-schema-path-"))
atexit.register(shutil.rmtree, _SHARED, ignore_errors=True)
(_SHARED / "platform_schema").symlink_to(Path(platform_schema.__file__).parent)
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_SHARED), os.environ.get("PYTHONPATH")]))

from platform_dags.sample_data import load_sample_source


@pytest.fixture
def etl_databases(postgres_server, airflow_db, monkeypatch, tmp_path):
    """(source URI, warehouse URI): a freshly loaded sample source and an empty warehouse, reachable as the
    connections `sample_source` and `warehouse`. The DAGs folder is an empty tmp dir, because dag.test()
    syncs the whole DAGs folder into the metadata DB and these tests need only their own DAG."""
    source = postgres_server.create_database("etl_source")
    warehouse = postgres_server.create_database("etl_warehouse")
    load_sample_source(source)
    monkeypatch.setenv("AIRFLOW_CONN_SAMPLE_SOURCE", source.replace("postgresql://", "postgres://"))
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", warehouse.replace("postgresql://", "postgres://"))
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(tmp_path))
    return source, warehouse
