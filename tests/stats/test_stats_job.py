"""`invoke stats prod`: the Job it creates (checked as an object), and the create → stream → delete cycle
against a loopback Kubernetes API whose pod log is what the Job's own side prints on the seeded database."""

from __future__ import annotations

import contextlib
import io
import json

import pg8000.dbapi
import psycopg
import pytest

from infra import naming
from infra.config import load_environment
from infra.errors import UserError
from infra.stats import collect
from infra.stats_job import job_manifest, main, progress_in_cluster, stats_in_cluster
from kube_api import FakeKubernetes

INSTANCE = "acme-airflow-prod:europe-west1:af-prod-pg"
IMAGE = "europe-west1-docker.pkg.dev/acme-airflow-prod/platform/airflow-platform:2026.12.1"


@pytest.fixture(scope="module")
def prod():
    return load_environment("prod")


def _serialized(job) -> dict:
    from kubernetes import client

    return client.ApiClient().sanitize_for_serialization(job)


def test_job_manifest_runs_the_stats_identity_once_and_cleans_up(prod):
    job = job_manifest(prod, image=IMAGE, args=["stats", "--days", "30"], job_name="stats-1", instance=INSTANCE)
    pod = job.spec.template.spec
    (container,) = pod.containers
    assert job.metadata.namespace == prod.airflow.namespace
    assert pod.service_account_name == naming.stats_kubernetes_service_account(prod) != "airflow"
    assert container.image == IMAGE
    assert container.command == ["python", "-m", "infra.stats_job"] and container.args == ["stats", "--days", "30"]
    assert job.spec.backoff_limit == 0 and pod.restart_policy == "Never"
    assert 0 < job.spec.ttl_seconds_after_finished <= 3600
    env = {e.name: e.value for e in container.env}
    assert env["STATS_INSTANCE"] == INSTANCE
    assert env["STATS_DB_USER"] == naming.stats_database_user(prod) == "af-prod-stats@acme-airflow-prod.iam"
    assert container.security_context.run_as_non_root and not container.security_context.allow_privilege_escalation


def test_job_manifest_holds_no_secret(prod):
    data = _serialized(job_manifest(prod, image=IMAGE, args=["stats"], job_name="stats-1", instance=INSTANCE))
    text = json.dumps(data).lower()
    for word in ("secret", "password", "token", "valuefrom", "envfrom"):
        assert word not in text, word
    assert "volumes" not in data["spec"]["template"]["spec"]


def _job_output(uri: str, argv: list[str], monkeypatch) -> tuple[int, str]:
    """What the Job's side prints, run here on the seeded database (psycopg stands in for the connector)."""
    monkeypatch.setenv("STATS_INSTANCE", INSTANCE)
    monkeypatch.setenv("STATS_DATABASE", "airflow")
    monkeypatch.setenv("STATS_DB_USER", "af-prod-stats@acme-airflow-prod.iam")
    monkeypatch.setenv("STATS_ENVIRONMENT", "prod")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(argv, connect=lambda instance, user, database: psycopg.connect(uri))
    return code, "WARNING: a line that is not a report\n" + out.getvalue()


@pytest.fixture
def kube():
    servers = []

    def make(**kwargs) -> FakeKubernetes:
        servers.append(FakeKubernetes(**kwargs))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


def test_stats_in_cluster_creates_streams_and_deletes_the_job(seeded, prod, kube, monkeypatch, capsys):
    code, log = _job_output(seeded.uri, ["stats", "--dag", "stats_etl", "--days", "30", "--daily"], monkeypatch)
    assert code == 0
    fake = kube(log=log)
    report = stats_in_cluster(
        prod, dag_id="stats_etl", days=30, with_daily=True, image=IMAGE, cluster=(fake.api_client(), INSTANCE, "airflow")
    )
    with psycopg.connect(seeded.uri) as conn:
        local = collect(conn, "prod", dag_id="stats_etl", days=30, with_daily=True)
    assert [r.name for r in report.rows] == [r.name for r in local.rows]
    assert [r.p95_seconds for r in report.rows] == pytest.approx([r.p95_seconds for r in local.rows])
    assert len(report.daily) == len(local.daily) == 12
    (name,) = fake.jobs
    assert fake.jobs[name]["spec"]["template"]["spec"]["containers"][0]["args"] == ["stats", "--days", "30", "--dag", "stats_etl", "--daily"]
    methods = [(m, path.rsplit("/", 1)[-1], q) for m, path, q in fake.calls]
    assert methods[0] == ("POST", "jobs", {})
    assert ("GET", "pods", {"labelSelector": f"airflow-gke-platform/stats-job={name}"}) in methods
    # The client writes `True`; the API server parses it with Go's ParseBool, which accepts it.
    assert ("GET", "log", {"container": "stats", "follow": "True"}) in methods
    assert methods[-1][0] == "DELETE" and fake.deleted == [name]
    assert "WARNING: a line that is not a report" in capsys.readouterr().err


def test_a_failing_job_reports_its_own_error_line_and_is_still_deleted(seeded, prod, kube, monkeypatch):
    code, log = _job_output(seeded.uri, ["stats", "--dag", "stats_etk"], monkeypatch)
    assert code == 1
    fake = kube(log=log, exit_code=1)
    with pytest.raises(UserError, match="no DAG 'stats_etk' in the metadata database of prod; did you mean stats_etl"):
        stats_in_cluster(prod, dag_id="stats_etk", days=30, with_daily=False, image=IMAGE, cluster=(fake.api_client(), INSTANCE, "airflow"))
    assert fake.deleted == list(fake.jobs)


def test_an_image_that_cannot_be_pulled_is_one_line_and_the_job_is_deleted(prod, kube):
    fake = kube(waiting_reason="ImagePullBackOff")
    with pytest.raises(UserError, match="container cannot start: ImagePullBackOff"):
        stats_in_cluster(prod, dag_id=None, days=30, with_daily=False, image=IMAGE, cluster=(fake.api_client(), INSTANCE, "airflow"))
    assert fake.deleted == list(fake.jobs) and not fake.log_read


def test_gke_stats_without_an_image_is_one_line(prod):
    with pytest.raises(UserError, match="give --image"):
        stats_in_cluster(prod, dag_id=None, days=30, with_daily=False, image=None, cluster=(None, INSTANCE, "airflow"))


def test_progress_in_cluster_renders_the_jobs_snapshots(seeded, prod, kube, monkeypatch, capsys):
    code, log = _job_output(seeded.uri, ["progress", "stats_etl"], monkeypatch)
    assert code == 0
    fake = kube(log=log)
    assert progress_in_cluster(
        prod, "stats_etl", run_id=None, watch=False, interval=1, image=IMAGE, cluster=(fake.api_client(), INSTANCE, "airflow")
    ) == 0
    out = capsys.readouterr().out
    assert "manual__in_progress" in out and "customers" in out and "waiting" in out


def test_the_queries_run_under_pg8000_the_connectors_driver(seeded, postgres_server):
    """Inside the Job the connection is pg8000's: the same queries, the same numbers as under psycopg."""
    database = seeded.uri.rsplit("/", 1)[1]
    with contextlib.closing(pg8000.dbapi.connect(host="127.0.0.1", port=postgres_server.port, user="postgres", database=database)) as conn:
        via_pg8000 = collect(conn, "prod", dag_id="stats_etl", days=30, with_daily=True)
        every_dag = collect(conn, "prod", dag_id=None, days=30, with_daily=True)
    with psycopg.connect(seeded.uri) as conn:
        via_psycopg = collect(conn, "prod", dag_id="stats_etl", days=30, with_daily=True)
    assert via_pg8000.rows == via_psycopg.rows and via_pg8000.daily == via_psycopg.daily
    assert "stats_etl" in [r.name for r in every_dag.rows]
