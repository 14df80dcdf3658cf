"""The scheduler's probes against real processes: a migrated Airflow metadata database on a real
PostgreSQL, and Airflow's own scheduler health server (``airflow.utils.scheduler_health``) reading it.

Each test sets the records the answers depend on (the canary's registration, runs and task, the
scheduler job's start and heartbeat), then runs the probe as the kubelet / local supervisor does.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

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
        conn.execute(text("DELETE FROM job WHERE job_type = 'SchedulerJob'"))
    db.dispose()


@pytest.fixture(scope="module")
def health_server(airflow_db, free_port):
    """Airflow's real scheduler health server on a free loopback port; yields its port."""
    port = free_port()
    env = {**os.environ, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": airflow_db,
           "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST": "127.0.0.1",
           "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(port)}
    proc = subprocess.Popen([sys.executable, "-m", "airflow.utils.scheduler_health"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5)
                break
            except urllib.error.HTTPError:
                break  # answering (503 with no scheduler yet) is all we wait for
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "the health server did not start"
                time.sleep(0.3)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def set_scheduler(db, *, started_ago: float | None, heartbeat_ago: float = 0):
    """The scheduler job the health server reads (this host, running); None = no scheduler ever ran."""
    from airflow.utils.net import get_hostname

    now = datetime.now(timezone.utc)
    with db.begin() as conn:
        conn.execute(text("DELETE FROM job WHERE job_type = 'SchedulerJob'"))
        if started_ago is not None:
            conn.execute(
                text("INSERT INTO job (state, job_type, start_date, latest_heartbeat, hostname, unixname, executor_class)"
                     " VALUES ('running', 'SchedulerJob', :s, :h, :host, 'airflow', 'LocalExecutor')"),
                {"s": now - timedelta(minutes=started_ago), "h": now - timedelta(minutes=heartbeat_ago), "host": get_hostname()},
            )


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


def liveness(db_uri: str, port: int, *extra: str) -> tuple[int, str]:
    return probe(db_uri, "liveness", "--max-age-minutes", "15", "--health-port", str(port), *extra)


# --- the three answers: stale health server, stale canary, database unreachable ------------------


def test_a_stale_heartbeat_fails_liveness_through_the_health_server(airflow_db, canary, health_server):
    set_canary(canary, registered_ago=600, created_ago=2, succeeded_ago=2)  # the canary alone would pass
    set_scheduler(canary, started_ago=60, heartbeat_ago=5)  # frozen: no heartbeat for 5 minutes
    assert liveness(airflow_db, health_server) == (
        1, f"liveness: FAIL health server http://127.0.0.1:{health_server}/health: HTTP 503 (scheduler heartbeat stale)"
    )
    set_scheduler(canary, started_ago=60, heartbeat_ago=0)
    assert liveness(airflow_db, health_server) == (
        0, "liveness: OK health server healthy; last canary run created 2.0 min ago (max 15 min)"
    )


def test_a_health_server_that_never_answers_fails_liveness_within_the_probe_budget(airflow_db, canary, free_port):
    set_canary(canary, registered_ago=600, created_ago=2, succeeded_ago=2)
    with socket.socket() as silent:  # accepts connections, never answers: a hung process
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        code, line = liveness(airflow_db, port)
    assert code == 1 and line.startswith(f"liveness: FAIL health server http://127.0.0.1:{port}/health: no answer"), line
    code, line = liveness(airflow_db, free_port())  # nothing listening at all
    assert code == 1 and "no answer" in line and "refused" in line.lower()


def test_a_stale_canary_fails_liveness_although_the_heartbeat_is_fresh(airflow_db, canary, health_server):
    set_scheduler(canary, started_ago=600)
    set_canary(canary, registered_ago=600, created_ago=30, succeeded_ago=30)
    assert liveness(airflow_db, health_server) == (
        1, "liveness: FAIL last canary run created 30.0 min ago (max 15 min): not scheduling"
    )


def test_an_unreachable_database_passes_liveness_and_says_why(postgres_server, health_server, free_port):
    # The health server answers 503 then too (it reads the heartbeat from the database): not a reason.
    for dead in (f"postgresql+psycopg2://postgres@127.0.0.1:{free_port()}/airflow",  # server gone
                 f"postgresql+psycopg2://postgres@127.0.0.1:{postgres_server.port}/no_such_database"):
        code, line = liveness(dead, health_server)
        assert code == 0, line
        assert line.startswith("liveness: OK metadata database unreachable (OperationalError: "), line
        assert line.endswith("a restart cannot help, the scheduler is judged once it is back"), line


# --- canary grace -----------------------------------------------------------------------------------


def test_an_unregistered_canary_is_startup_not_a_scheduler_failure(airflow_db, canary, health_server):
    set_scheduler(canary, started_ago=600)
    code, line = liveness(airflow_db, health_server, "--dag-id", "canary_never_parsed")
    assert (code, line) == (0, "liveness: OK (startup) health server healthy; canary_never_parsed is not "
                               "registered yet; the DAG processor has not parsed it")


def test_a_new_deployment_gets_max_age_to_create_its_first_run(airflow_db, canary, health_server):
    set_scheduler(canary, started_ago=600)
    set_canary(canary, registered_ago=3, created_ago=None)
    code, line = liveness(airflow_db, health_server)
    assert code == 0 and line.startswith("liveness: OK (startup) health server healthy; no canary run created yet, registered 3.0 min ago")
    set_canary(canary, registered_ago=60, created_ago=None)  # a manual run exists, no scheduled one
    assert liveness(airflow_db, health_server) == (
        1, "liveness: FAIL no canary run created in the 60.0 min since system_canary was registered: "
           "the scheduler is not scheduling"
    )


def test_a_restarted_scheduler_gets_max_age_before_the_canary_is_held_against_it(airflow_db, canary, health_server):
    """Without this grace a scheduler restarted for a stale canary would be restarted again at once."""
    set_canary(canary, registered_ago=600, created_ago=30, succeeded_ago=30)
    set_scheduler(canary, started_ago=1)
    code, line = liveness(airflow_db, health_server)
    assert code == 0 and line.startswith("liveness: OK (startup) health server healthy; no canary run created since the scheduler "
                                   "started 1.0 min ago")
    set_scheduler(canary, started_ago=20)
    assert liveness(airflow_db, health_server)[0] == 1


def test_a_paused_canary_warns_instead_of_restarting(airflow_db, canary, health_server):
    set_scheduler(canary, started_ago=600)
    set_canary(canary, registered_ago=600, created_ago=90, paused=True)
    code, line = liveness(airflow_db, health_server)
    assert code == 0 and line.startswith("liveness: WARN health server healthy; system_canary is paused")


# --- startup, workers --------------------------------------------------------------------------------


def test_startup_passes_once_the_health_server_says_the_scheduler_runs(airflow_db, canary, health_server):
    set_scheduler(canary, started_ago=None)  # starting: no scheduler job yet
    assert probe(airflow_db, "startup", "--health-port", str(health_server)) == (
        1, f"startup: FAIL health server http://127.0.0.1:{health_server}/health: HTTP 503 (scheduler heartbeat stale)"
    )
    set_scheduler(canary, started_ago=0)
    assert probe(airflow_db, "startup", "--health-port", str(health_server)) == (
        0, f"startup: OK health server http://127.0.0.1:{health_server}/health: HTTP 200"
    )


def test_created_but_not_executed_blames_workers_not_the_scheduler(airflow_db, canary, health_server):
    set_scheduler(canary, started_ago=600)
    set_canary(canary, registered_ago=600, created_ago=2, succeeded_ago=40)
    assert liveness(airflow_db, health_server)[0] == 0
    assert probe(airflow_db, "workers", "--max-age-minutes", "15") == (1, (
        "workers: FAIL last canary task succeeded 40.0 min ago (max 15 min): "
        "workers are not executing; alert, do not restart the scheduler"
    ))


def test_the_max_age_defaults_to_the_platform_setting(airflow_db, canary, health_server, monkeypatch):
    set_scheduler(canary, started_ago=600)
    set_canary(canary, registered_ago=600, created_ago=4, succeeded_ago=3)
    assert probe(airflow_db, "workers", "--max-age-minutes", "15") == (0, "workers: OK last canary task succeeded 3.0 min ago (max 15 min)")
    monkeypatch.setenv("AIRFLOW__PLATFORM__CANARY_MAX_AGE_MINUTES", "2")
    assert probe(airflow_db, "liveness", "--health-port", str(health_server)) == (
        1, "liveness: FAIL last canary run created 4.0 min ago (max 2 min): not scheduling"
    )

