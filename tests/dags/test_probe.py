"""The canary probe answers its two questions from a real, migrated Airflow metadata database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import create_engine, text


pytestmark = pytest.mark.integration

DAGS = Path(__file__).resolve().parents[2] / "dags"


def probe(db_uri: str, *args: str) -> tuple[int, str]:
    """Run the probe as the kubelet / local supervisor does: a fresh process, one line out."""
    env = {**os.environ, "PYTHONPATH": str(DAGS), "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db_uri}
    result = subprocess.run(
        [sys.executable, "-m", "platform_dags.probe", *args], env=env, capture_output=True, text=True, timeout=120
    )
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, (result.stdout, result.stderr[-2000:])
    return result.returncode, lines[0]


@pytest.fixture(scope="module")
def canary(airflow_db, register_dag):
    """system_canary registered as the DAG processor would; one run whose timestamps tests rewrite."""
    from airflow.models.dagrun import get_or_create_dagrun
    from airflow.serialization.serialized_objects import DagSerialization
    from airflow.utils.session import create_session
    from airflow.utils.types import DagRunTriggeredByType

    import system_canary

    dag = system_canary.dag
    register_dag(dag)
    scheduler_dag = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))
    now = datetime.now(timezone.utc)
    with create_session() as session:
        get_or_create_dagrun(
            dag=scheduler_dag, run_id="probe-test", logical_date=now, data_interval=(now, now),
            run_after=now, conf=None, triggered_by=DagRunTriggeredByType.TEST, triggering_user_name=None,
            start_date=now, session=session,
        )
    db = create_engine(airflow_db)
    yield db
    with db.begin() as conn:  # other tests see an active canary, as a fresh deployment has
        conn.execute(text("UPDATE dag SET is_paused = false WHERE dag_id = 'system_canary'"))
    db.dispose()


def set_canary(db, *, registered_ago=None, created_ago=None, succeeded_ago=None, paused=False):
    """Rewrite the canary's records: None = that event never happened."""
    def ago(minutes):
        return None if minutes is None else datetime.now(timezone.utc) - timedelta(minutes=minutes)

    with db.begin() as conn:
        conn.execute(text("UPDATE dag SET is_paused = :p WHERE dag_id = 'system_canary'"), {"p": paused})
        conn.execute(
            text("UPDATE dag_version SET created_at = :t WHERE dag_id = 'system_canary'"),
            {"t": ago(registered_ago if registered_ago is not None else 0)},
        )
        # Only scheduled runs count: a manual run (queued_at set) must not satisfy the scheduler probe.
        run_type = "scheduled" if created_ago is not None else "manual"
        conn.execute(
            text("UPDATE dag_run SET run_type = :rt, queued_at = :t WHERE dag_id = 'system_canary'"),
            {"rt": run_type, "t": ago(created_ago if created_ago is not None else 1)},
        )
        conn.execute(
            text("UPDATE task_instance SET state = :s, end_date = :t WHERE dag_id = 'system_canary'"),
            {"s": "success" if succeeded_ago is not None else "queued", "t": ago(succeeded_ago)},
        )


def test_an_unregistered_canary_is_startup_not_a_scheduler_failure(airflow_db):
    code, line = probe(airflow_db, "scheduler", "--dag-id", "canary_never_parsed")
    assert code == 0
    assert line == "scheduler: OK (startup) canary_never_parsed is not registered yet; the DAG processor has not parsed it"


def test_a_new_deployment_gets_max_age_to_create_its_first_run(airflow_db, canary):
    set_canary(canary, registered_ago=3, created_ago=None)
    code, line = probe(airflow_db, "scheduler", "--max-age-minutes", "15")
    assert code == 0 and line.startswith("scheduler: OK (startup) no canary run created yet, registered 3.0 min ago")
    set_canary(canary, registered_ago=60, created_ago=None)  # a manual run exists, no scheduled one
    code, line = probe(airflow_db, "scheduler", "--max-age-minutes", "15")
    assert code == 1
    assert line == "scheduler: FAIL no canary run created in the 60.0 min since system_canary was registered: the scheduler is not scheduling"


def test_a_stale_canary_run_fails_the_scheduler(airflow_db, canary):
    set_canary(canary, registered_ago=600, created_ago=30, succeeded_ago=30)
    code, line = probe(airflow_db, "scheduler", "--max-age-minutes", "15")
    assert code == 1
    assert line == "scheduler: FAIL last canary run created 30.0 min ago (max 15 min): not scheduling"


def test_created_but_not_executed_blames_workers_not_the_scheduler(airflow_db, canary):
    set_canary(canary, registered_ago=600, created_ago=2, succeeded_ago=40)
    assert probe(airflow_db, "scheduler", "--max-age-minutes", "15") == (
        0, "scheduler: OK last canary run created 2.0 min ago (max 15 min)"
    )
    code, line = probe(airflow_db, "workers", "--max-age-minutes", "15")
    assert code == 1
    assert line == (
        "workers: FAIL last canary task succeeded 40.0 min ago (max 15 min): "
        "workers are not executing; alert, do not restart the scheduler"
    )


def test_a_healthy_platform_passes_both(airflow_db, canary, monkeypatch):
    set_canary(canary, registered_ago=600, created_ago=4, succeeded_ago=3)
    assert probe(airflow_db, "workers", "--max-age-minutes", "15") == (0, "workers: OK last canary task succeeded 3.0 min ago (max 15 min)")
    # The max age defaults to [platform] canary_max_age_minutes.
    monkeypatch.setenv("AIRFLOW__PLATFORM__CANARY_MAX_AGE_MINUTES", "2")
    assert probe(airflow_db, "scheduler") == (1, "scheduler: FAIL last canary run created 4.0 min ago (max 2 min): not scheduling")


def test_a_paused_canary_warns_instead_of_restarting(airflow_db, canary):
    set_canary(canary, registered_ago=600, created_ago=90, paused=True)
    code, line = probe(airflow_db, "scheduler")
    assert code == 0 and line.startswith("scheduler: WARN system_canary is paused")


def test_setup_creates_the_canary_pool_once(airflow_db):
    assert probe(airflow_db, "setup") == (0, "setup: pool system_canary created")
    assert probe(airflow_db, "setup") == (0, "setup: pool system_canary already exists")


def test_an_unreachable_database_is_one_line_and_a_failure(postgres_server):
    dead = f"postgresql+psycopg2://postgres@127.0.0.1:{postgres_server.port}/no_such_database"
    code, line = probe(dead, "scheduler")
    assert code == 1
    assert line.startswith("scheduler: FAIL cannot read the metadata database: OperationalError")
