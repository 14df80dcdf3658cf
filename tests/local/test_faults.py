"""Fault tests on one deployed platform: the supervisor, driven by the builder's probes, heals Airflow.

One platform is shared by the whole module (deploying costs ~15-30 s on 2 cores); tests run in file
order, gentlest first, the heavy-load test last. Its DAGs come from a git repository in tmp through
GitDagBundle, which the versioning test exercises. After every fault: every run created before it
reaches a terminal state and no DAG has two runs for one logical date.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from infra.local import postgres, processes
from platform_kit import Platform, assert_gone, git, wait_for, write_env

pytestmark = pytest.mark.integration

WORK_DAG = '''
from datetime import datetime
from airflow.sdk import DAG, task

with DAG("fault_work", schedule=None, start_date=datetime(2024, 1, 1), is_paused_upon_creation=False, catchup=False):
    @task
    def step_one():
        import time; time.sleep(2)

    @task
    def step_two():
        import time; time.sleep(2)

    step_one() >> step_two()
'''

HEAVY_DAG = '''
from datetime import datetime
from airflow.sdk import DAG, task

with DAG("heavy_load", schedule=None, start_date=datetime(2024, 1, 1), is_paused_upon_creation=False,
         catchup=False, max_active_tasks=400):
    @task
    def chunk(i: int):
        import time; time.sleep(5)  # 300 x 5 s over 8 slots: the load outlasts the observation window

    chunk.expand(i=list(range(300)))
'''

VERSIONED_DAG = '''
from datetime import datetime
from pathlib import Path
from airflow.sdk import DAG, task

VERSION = "{version}"

with DAG("versioned", schedule=None, start_date=datetime(2024, 1, 1), is_paused_upon_creation=False, catchup=False):
    @task
    def wait_for_gate(**context):
        import time
        gate = Path(context["dag_run"].conf["gate"])
        while not gate.exists():
            time.sleep(1)

    @task
    def report(**context):
        Path(context["dag_run"].conf["out"]).write_text(VERSION)

    wait_for_gate() >> report()
'''


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    import tempfile

    path = tempfile.mkdtemp(prefix="localrt-dags-", dir="/tmp")
    from pathlib import Path

    repo = Path(path)
    git(repo, "init", "-q", "-b", "main")
    (repo / "fault_work.py").write_text(WORK_DAG)
    (repo / "heavy_load.py").write_text(HEAVY_DAG)
    (repo / "versioned.py").write_text(VERSIONED_DAG.format(version="A"))
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "A")
    yield repo


@pytest.fixture(scope="module")
def platform(repo):
    import shutil
    import tempfile
    from pathlib import Path

    base = Path(tempfile.mkdtemp(prefix="localrt-", dir="/tmp"))
    base.chmod(0o755)
    env_path = write_env(base, airflow={
        "dags": {"repo_url": str(repo), "branch": "main", "refresh_seconds": 5},
        "canary": {"interval_minutes": 1, "max_age_minutes": 2},
        # Faster orphan handling so runs interrupted by a killed scheduler finish within the test's bounds.
        "config_overrides": {"scheduler": {"task_instance_heartbeat_timeout": 60, "orphaned_tasks_check_interval": 30}},
    })
    platform = Platform(env_path)
    everything: set[int] = set()
    try:
        assert platform.deploy() == 0
        wait_for(lambda: {"fault_work", "versioned", "heavy_load", "system_canary"} <= {
            r[0] for r in platform.sql("SELECT dag_id FROM dag WHERE NOT is_stale")}, 180, "the DAGs to be parsed")
        yield platform
        everything = platform.all_pids()
    finally:
        everything |= platform.all_pids()
        platform.destroy()
        assert_gone(everything)
        shutil.rmtree(base, ignore_errors=True)


def trigger(platform: Platform, dag_id: str, conf: dict | None = None) -> str:
    logical = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(microseconds=uuid.uuid4().int % 999_999)
    body = {"logical_date": logical.isoformat(), "conf": conf or {}}
    return platform.call("POST", f"/dags/{dag_id}/dagRuns", body)["dag_run_id"]


def wait_healthy(platform: Platform, timeout: float = 240) -> None:
    from infra.airflow_config import build
    from infra.local import health

    settings = build(platform.env)
    wait_for(lambda: all(r.healthy for r in health.check(settings, platform.folder, platform.env.local.postgres_port)),
             timeout, "every component to be healthy", interval=2)


def scheduling_works(platform: Platform, timeout: float = 240) -> None:
    """A run triggered now is scheduled and executed to success."""
    platform._token = None
    run_id = trigger(platform, "fault_work")
    wait_for(lambda: platform.runs_by_id([run_id])[0][1] == "success", timeout, f"{run_id} to succeed", interval=2)


# --- the tests, gentlest first -------------------------------------------------------------------


def test_git_bundle_run_finishes_on_the_version_it_started_with(platform, repo, tmp_path):
    pids = {n: platform.pid(n) for n in ("api-server", "scheduler", "dag-processor", "triggerer")}
    sha_a = git(repo, "rev-parse", "HEAD")
    gate, out_a, out_b = tmp_path / "gate", tmp_path / "a.txt", tmp_path / "b.txt"
    first = trigger(platform, "versioned", {"gate": str(gate), "out": str(out_a)})
    wait_for(lambda: platform.sql("SELECT state FROM task_instance WHERE run_id = %s AND task_id = 'wait_for_gate'", first)
             == [("running",)], 180, "the first run to start")
    assert platform.sql("SELECT bundle_version FROM dag_run WHERE run_id = %s", first) == [(sha_a,)]

    (repo / "versioned.py").write_text(VERSIONED_DAG.format(version="B"))
    git(repo, "commit", "-q", "-am", "B")
    sha_b = git(repo, "rev-parse", "HEAD")
    wait_for(lambda: platform.sql("SELECT bundle_version FROM dag_version WHERE dag_id = 'versioned' ORDER BY created_at DESC LIMIT 1")
             == [(sha_b,)], 180, "commit B to be parsed")

    gate.touch()
    wait_for(lambda: out_a.exists(), 180, "the first run to finish")
    assert out_a.read_text() == "A", "a run that started on commit A must finish on A's code"
    second = trigger(platform, "versioned", {"gate": str(gate), "out": str(out_b)})
    wait_for(lambda: out_b.exists(), 180, "the second run to finish")
    assert out_b.read_text() == "B"
    assert platform.sql("SELECT bundle_version FROM dag_run WHERE run_id = %s", second) == [(sha_b,)]
    assert {n: platform.pid(n) for n in pids} == pids, "no component may restart for a DAG change"


def _count(platform: Platform, database: str, query: str):
    conn = postgres.connect(platform.env.local.postgres_port, database)
    try:
        with conn.cursor() as cur:
            cur.execute(query)
            return cur.fetchone()[0]
    finally:
        conn.close()


def test_example_pipeline_moves_real_rows_into_the_warehouse(platform):
    """What the README promises a newcomer: unpause meetup_nightly, trigger it, find the warehouse filled."""
    wait_for(lambda: platform.sql("SELECT 1 FROM dag WHERE dag_id = 'meetup_nightly' AND NOT is_stale"), 180,
             "meetup_nightly to be parsed")
    # The sample source is loaded in the background while the components start.
    wait_for(lambda: _count(platform, "sample_source",
                            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'rsvps'"), 120,
             "the sample data to be loaded")
    platform.call("PATCH", "/dags/meetup_nightly", {"is_paused": False})
    try:
        run_id = trigger(platform, "meetup_nightly")
        wait_for(lambda: platform.runs_by_id([run_id])[0][1] in ("success", "failed"), 420, "meetup_nightly to finish")
    finally:
        platform.call("PATCH", "/dags/meetup_nightly", {"is_paused": True})
    assert platform.runs_by_id([run_id])[0][1] == "success"
    for table in ("groups", "members", "events", "rsvps"):
        copied = _count(platform, "warehouse", f"SELECT count(*) FROM meetup.{table}")
        assert copied == _count(platform, "sample_source", f"SELECT count(*) FROM {table}") > 0, table
    # The transform's output against an independent query on the source: yes-RSVPs plus their guests.
    attendees = _count(platform, "warehouse", "SELECT sum(attendees) FROM meetup.group_attendance")
    expected = _count(platform, "sample_source",
                      "SELECT count(*) + coalesce(sum(guests), 0) FROM rsvps WHERE response = 'yes'")
    assert attendees == expected
    assert not _count(platform, "warehouse", "SELECT count(*) FROM information_schema.columns "
                      "WHERE table_schema = 'meetup' AND table_name = 'members' AND column_name = 'email'")


def test_killed_scheduler_is_restarted_and_no_run_is_lost(platform):
    before = [trigger(platform, "fault_work") for _ in range(2)]
    restarts, pid = platform.restarts("scheduler"), platform.pid("scheduler")
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: platform.restarts("scheduler") > restarts and platform.pid("scheduler") not in (None, pid), 60, "a restart")
    wait_healthy(platform)
    platform.assert_no_run_lost_or_duplicated(["fault_work", "system_canary"], before)
    scheduling_works(platform)


def test_killed_api_server_is_restarted(platform):
    restarts, pid = platform.restarts("api-server"), platform.pid("api-server")
    record = platform.record("api-server")
    processes.signal_group(record, signal.SIGKILL)
    wait_for(lambda: platform.restarts("api-server") > restarts and platform.pid("api-server") not in (None, pid), 60, "a restart")
    wait_healthy(platform)
    scheduling_works(platform)


def test_frozen_scheduler_is_detected_by_liveness_and_restarted(platform):
    before = [trigger(platform, "fault_work") for _ in range(2)]
    restarts, pid = platform.restarts("scheduler"), platform.pid("scheduler")
    frozen_at = time.monotonic()
    os.kill(pid, signal.SIGSTOP)  # alive to `ps`, dead to the world: only a probe can tell
    wait_for(lambda: platform.restarts("scheduler") > restarts, 120, "the liveness probe to restart the scheduler")
    detected = time.monotonic() - frozen_at
    reason = platform.state()["components"]["scheduler"]["last_restart"]["reason"]
    # The one liveness probe names what failed: the health server's stale heartbeat.
    assert reason.startswith("liveness probe failed") and "health server" in reason, reason
    assert detected < 120
    wait_healthy(platform)
    platform.assert_no_run_lost_or_duplicated(["fault_work", "system_canary"], before)
    scheduling_works(platform)


def test_stopped_postgres_is_started_again_and_airflow_recovers(platform):
    before = [trigger(platform, "fault_work") for _ in range(2)]
    restarts = (platform.state().get("postgres") or {}).get("restarts", 0)
    postgres.stop(platform.folder)
    # Nobody but the supervisor starts it again.
    wait_for(lambda: postgres.server_pid(platform.folder), 60, "the supervisor to start PostgreSQL again")
    wait_for(lambda: (platform.state().get("postgres") or {}).get("restarts", 0) == restarts + 1, 30,
             "the PostgreSQL restart to be counted")
    wait_healthy(platform, timeout=300)
    platform.assert_no_run_lost_or_duplicated(["fault_work", "system_canary"], before)
    scheduling_works(platform)


def test_scheduler_alive_but_not_scheduling_is_caught_by_the_canary(platform):
    """A scheduler started with use_job_schedule=False heart-beats happily but creates no scheduled runs."""
    env_path = platform.env_path
    original = env_path.read_text()
    write_env(env_path.parent.parent, airflow={**_airflow(platform), "config_overrides": {
        **platform.env.airflow.config_overrides, "scheduler": {
            **platform.env.airflow.config_overrides.get("scheduler", {}), "use_job_schedule": False}}})
    platform.reload()
    assert platform.deploy() == 0
    restarts = platform.restarts("scheduler")
    started = time.monotonic()
    max_age = platform.env.airflow.canary.max_age_minutes * 60
    wait_for(lambda: platform.restarts("scheduler") > restarts, max_age + 150, "the liveness probe to restart the scheduler")
    reason = platform.state()["components"]["scheduler"]["last_restart"]["reason"]
    assert reason.startswith("liveness probe failed") and "not scheduling" in reason, reason
    # max age from the scheduler's start, then the probe's period x failure threshold (3 x 10 s), then slack
    assert time.monotonic() - started <= max_age + 150
    env_path.write_text(original)
    platform.reload()
    assert platform.deploy() == 0
    newest = platform.sql("SELECT max(queued_at) FROM dag_run WHERE dag_id = 'system_canary' AND run_type = 'scheduled'")[0][0]
    wait_for(lambda: platform.sql("SELECT max(queued_at) FROM dag_run WHERE dag_id = 'system_canary' AND run_type = 'scheduled'")[0][0]
             != newest, 150, "the canary to be scheduled again")


def _airflow(platform: Platform) -> dict:
    a = platform.env.airflow
    return {"dags": a.dags.model_dump(), "canary": a.canary.model_dump()}


def test_busy_scheduler_with_hundreds_of_waiting_tasks_is_not_restarted(platform):
    restarts = {n: platform.restarts(n) for n in ("scheduler", "api-server", "dag-processor", "triggerer")}
    run_id = trigger(platform, "heavy_load")
    wait_for(lambda: platform.sql("SELECT count(*) FROM task_instance WHERE run_id = %s AND state IS DISTINCT FROM 'success'", run_id)[0][0] >= 200,
             120, "hundreds of mapped tasks to wait")
    deadline = time.monotonic() + 150  # well past the liveness probe's 3 x 10 s and the canary's max age
    while time.monotonic() < deadline:
        assert {n: platform.restarts(n) for n in restarts} == restarts, platform.state()
        time.sleep(5)
    waiting = platform.sql("SELECT count(*) FROM task_instance WHERE run_id = %s AND (state IS NULL OR state IN ('scheduled', 'queued', 'running'))", run_id)[0][0]
    assert waiting > 0, "the load must still be there at the end of the observation"
