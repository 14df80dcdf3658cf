"""system_queued_watch finds a task instance forced into `queued` long ago, through a real API server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import create_engine, text


pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def api_server(airflow_db, tmp_path_factory, free_port):
    """`airflow api-server` on 127.0.0.1:<free port>, SimpleAuthManager with one admin and a password."""
    folder = tmp_path_factory.mktemp("api")
    passwords = folder / "passwords.json"
    passwords.write_text(json.dumps({"admin": "watch-test-password"}))
    port = free_port()
    env = {
        **os.environ,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": airflow_db,
        "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__API_AUTH__JWT_SECRET": "test-only-jwt-secret-test-only-jwt-secret",
        "AIRFLOW__API__SECRET_KEY": "test-only-secret-key",
    }
    log = open(folder / "api-server.log", "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow", "api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1", "--apps", "core"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180  # a ceiling for slow machines, not a speed assertion
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/v2/version", timeout=5):
                    break
            except OSError:
                assert process.poll() is None, (folder / "api-server.log").read_text()[-3000:]
                assert time.monotonic() < deadline, "api-server did not answer"
                time.sleep(0.5)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


@pytest.fixture
def stuck_task(airflow_db, monkeypatch, tmp_path, register_dag):
    """A run of `queued_victim` with `old` queued 60 min ago and `fresh` queued 1 min ago."""
    from airflow.models.dagrun import get_or_create_dagrun
    from airflow.sdk import DAG
    from airflow.providers.standard.operators.empty import EmptyOperator
    from airflow.serialization.serialized_objects import DagSerialization
    from airflow.utils.session import create_session
    from airflow.utils.types import DagRunTriggeredByType

    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(tmp_path))
    with DAG("queued_victim", schedule=None, start_date=datetime(2024, 1, 1, tzinfo=timezone.utc)) as dag:
        EmptyOperator(task_id="old", on_execute_callback=print)  # a callback keeps it a real task
        EmptyOperator(task_id="fresh", on_execute_callback=print)
    register_dag(dag)
    now = datetime.now(timezone.utc)
    with create_session() as session:
        get_or_create_dagrun(
            dag=DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag)), run_id="victim-run",
            logical_date=now, data_interval=(now, now), run_after=now, conf=None,
            triggered_by=DagRunTriggeredByType.TEST, triggering_user_name=None, start_date=now, session=session,
        )
    db = create_engine(airflow_db)
    with db.begin() as conn:
        for task_id, minutes in (("old", 60), ("fresh", 1)):
            conn.execute(
                text("UPDATE task_instance SET state = 'queued', queued_dttm = :t WHERE dag_id = 'queued_victim' AND task_id = :id"),
                {"t": now - timedelta(minutes=minutes), "id": task_id},
            )
    yield
    with db.begin() as conn:  # leave nothing queued for other tests
        conn.execute(text("UPDATE task_instance SET state = 'success' WHERE dag_id = 'queued_victim'"))
    db.dispose()


@pytest.fixture
def platform(api_server, monkeypatch):
    for key, value in {
        "environment": "test",
        "api_url": api_server,
        "api_username": "admin",
        "api_password": "watch-test-password",
        "queued_warn_minutes": "15",
        "slack_conn_id": "slack_test",
        "slack_channel": "#platform",
        "pagerduty_conn_id": "pagerduty_{service}",
        "pagerduty_service": "test",
    }.items():
        monkeypatch.setenv(f"AIRFLOW__PLATFORM__{key.upper()}", value)


def test_the_watch_dag_alerts_once_about_the_task_queued_too_long(stuck_task, platform, slack_receiver, pagerduty_receiver, run_dag):
    import system_queued_watch

    first = run_dag(system_queued_watch.dag)
    assert str(first.state) == "success"
    texts = slack_receiver.texts()
    assert len(texts) == 1
    assert texts[0].startswith(":hourglass: [test] 1 task(s) queued longer than 15 min")
    assert "queued_victim.old (run victim-run) queued 60 min" in texts[0]
    assert "fresh" not in texts[0]
    assert len(pagerduty_receiver.requests) == 1
    page = pagerduty_receiver.requests[0]["json"]
    assert page["dedup_key"] == "airflow/test/queued-watch"
    assert page["payload"]["severity"] == "warning"
    assert page["payload"]["custom_details"]["count"] == 1

    # Ten minutes later, the same task is still stuck: no new Slack message; PagerDuty gets the same
    # dedup key, which updates the open incident instead of paging again.
    second = run_dag(system_queued_watch.dag, logical_date=datetime.now(timezone.utc) + timedelta(minutes=10))
    assert str(second.state) == "success"
    assert len(slack_receiver.texts()) == 1
    assert [r["json"]["dedup_key"] for r in pagerduty_receiver.requests] == ["airflow/test/queued-watch"] * 2


def test_nothing_stuck_means_no_alert(api_server, platform, slack_receiver, pagerduty_receiver, capsys):
    from platform_dags.queued import run_watch

    assert run_watch() == []
    assert "no task instance queued longer than 15 min" in capsys.readouterr().out
    assert slack_receiver.requests == [] and pagerduty_receiver.requests == []


def test_wrong_credentials_fail_the_watch_loudly(api_server, platform, monkeypatch):
    from urllib.error import HTTPError

    from platform_dags.queued import run_watch

    monkeypatch.setenv("AIRFLOW__PLATFORM__API_PASSWORD", "wrong")
    with pytest.raises(HTTPError) as error:
        run_watch()
    assert error.value.code == 401
