"""Fixtures for `invoke stats` / `invoke progress`: a metadata DB seeded through Airflow's ORM, and a local env.

* ``seeded`` (session): on the shared migrated ``airflow_db``, DAG ``stats_etl`` (tables orders,
  customers, products) with a run a day for 12 days, one run 40 days old (outside every window) and one
  run in progress today; DAG ``stats_other`` with 5 days of runs. Returns the seed lists.
* ``local_env``: an environments folder whose ``local`` points at a copy of that database named
  ``airflow`` (the name the local platform uses), for running the real `invoke` commands.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import seed  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
ETL_TABLES = ("orders", "customers", "products")


@dataclass
class Seeded:
    now: datetime
    etl: list[seed.SeedRun]  # stats_etl, the in-progress run last
    other: list[seed.SeedRun]
    uri: str  # libpq URI of the seeded database

    @property
    def all_runs(self) -> list[seed.SeedRun]:
        return self.etl + self.other


def in_progress_run(now: datetime) -> seed.SeedRun:
    """orders done; customers extracted and transforming for 20 s; products not started."""
    start = now - timedelta(minutes=9)
    tasks = []
    for i, step in enumerate(("extract", "transform", "publish")):
        s = start + timedelta(seconds=60 * i)
        tasks.append(seed.SeedTask(f"orders.{step}", "success", s - timedelta(seconds=2), s, s + timedelta(seconds=50)))
    s = start + timedelta(minutes=4)
    tasks.append(seed.SeedTask("customers.extract", "success", s - timedelta(seconds=1), s, s + timedelta(seconds=40)))
    tasks.append(seed.SeedTask("customers.transform", "running", now - timedelta(seconds=21), now - timedelta(seconds=20), None))
    tasks.append(seed.SeedTask("customers.publish", None, try_number=0))
    tasks += [seed.SeedTask(f"products.{step}", None, try_number=0) for step in ("extract", "transform", "publish")]
    return seed.SeedRun("stats_etl", "manual__in_progress", now - timedelta(minutes=10), "running", start, None, tasks)


@pytest.fixture(scope="session")
def seeded(airflow_db, register_dag) -> Seeded:
    now = datetime.now(timezone.utc)
    etl_dag = seed.etl_dag("stats_etl", ETL_TABLES)
    other_dag = seed.etl_dag("stats_other", ("accounts",))
    register_dag(etl_dag)
    register_dag(other_dag)
    etl_ids = [t.task_id for t in etl_dag.tasks]
    etl = seed.seed_runs("stats_etl", etl_ids, now, days=12, seed=15)
    old = seed.finished_run(__import__("random").Random(1), "stats_etl", etl_ids, now - timedelta(days=40), fail=False)
    etl = [old, *etl, in_progress_run(now)]
    other = seed.seed_runs("stats_other", [t.task_id for t in other_dag.tasks], now, days=5, seed=16, fail_every=2)
    seed.write(etl_dag, etl)
    seed.write(other_dag, other)
    return Seeded(now, etl, other, airflow_db.replace("postgresql+psycopg2://", "postgresql://"))


@pytest.fixture(scope="session")
def local_env(seeded, postgres_server, tmp_path_factory) -> dict:
    """Environment variables for a subprocess `invoke` whose `local` reads a copy of the seeded DB."""
    import psycopg
    from airflow import settings

    settings.engine.dispose()  # a template database must have no open connections
    with psycopg.connect(postgres_server.uri(), autocommit=True) as conn:
        conn.execute('DROP DATABASE IF EXISTS "airflow" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "airflow" TEMPLATE "{seeded.uri.rsplit("/", 1)[1]}"')
    folder = tmp_path_factory.mktemp("stats-envs")
    (folder / "local.yaml").write_text(
        f"runtime: local\nlocal:\n  folder: {folder / 'state'}\n  postgres_port: {postgres_server.port}\n"
    )
    return {**os.environ, "PLATFORM_ENVIRONMENTS_DIR": str(folder)}


@pytest.fixture
def invoke(local_env):
    """``invoke(*args)``: run the real CLI in the project root; returns the CompletedProcess."""

    def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "invoke", *args], cwd=ROOT, env=env or local_env, capture_output=True, text=True, timeout=120
        )

    return run
