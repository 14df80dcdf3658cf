"""The Dataproc path: the CreateBatchRequest the operator's client sends, captured at its REST transport.

The hook builds its BatchControllerClient for Google's regional endpoint; the test checks that endpoint,
then hands the operator the same client class on a REST transport pointed at a loopback server that
records each CreateBatchRequest and answers like Dataproc (operation created, batch SUCCEEDED).
The batch must carry what the dev environment's stack creates: runtime service account, subnetwork,
staging bucket, script URI in that bucket, the job's arguments.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from cloud_kit import platform_env
from infra import naming
from infra.config import load_environment

pytestmark = pytest.mark.integration


class FakeDataproc:
    """Dataproc's batches REST API on 127.0.0.1: records creates, every batch succeeds."""

    def __init__(self) -> None:
        self.created: list[dict] = []
        created = self.created

        class Handler(BaseHTTPRequestHandler):
            def _reply(self, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):  # noqa: N802 - http.server's naming
                url = urlparse(self.path)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                batch_id = parse_qs(url.query)["batchId"][0]
                created.append({"path": url.path, "batch_id": batch_id, "batch": body})
                parent = url.path.removeprefix("/v1/").removesuffix("/batches")
                self._reply({
                    "name": f"{parent}/operations/op-{len(created)}",
                    "metadata": {
                        "@type": "type.googleapis.com/google.cloud.dataproc.v1.BatchOperationMetadata",
                        "batch": f"{parent}/batches/{batch_id}",
                    },
                })

            def do_GET(self):  # noqa: N802
                name = urlparse(self.path).path.removeprefix("/v1/")
                self._reply({"name": name, "state": "SUCCEEDED"})

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def dataproc(monkeypatch):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud.dataproc_v1 import BatchControllerClient
    from google.cloud.dataproc_v1.services.batch_controller.transports.rest import BatchControllerRestTransport

    from airflow.providers.google.cloud.hooks.dataproc import DataprocHook

    fake = FakeDataproc()
    fake.endpoints = []

    def get_batch_client(hook, region=None):
        fake.endpoints.append(hook._get_api_endpoint(region=region))  # what the real client would call
        transport = BatchControllerRestTransport(host=fake.host, url_scheme="http", credentials=AnonymousCredentials())
        return BatchControllerClient(transport=transport)

    monkeypatch.setattr(DataprocHook, "get_batch_client", get_batch_client)
    yield fake
    fake.close()


def test_recommendations_become_dataproc_batches_with_the_environments_identity_network_and_bucket(
    dataproc, monkeypatch, airflow_db, run_dag, dags_folder, tmp_path
):
    from platform_dags.factory import build_dag, load_pipeline

    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(tmp_path))
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", "postgres://etl@warehouse.internal:5432/warehouse")
    platform_env(monkeypatch, "dev")
    env = load_environment("dev")
    dag = build_dag(load_pipeline(dags_folder / "pipelines" / "recommendations.yaml"))
    run = run_dag(dag)
    assert str(run.state) == "success"

    assert dataproc.endpoints and set(dataproc.endpoints) == {"europe-west1-dataproc.googleapis.com:443"}
    by_script = {c["batch"]["pysparkBatch"]["mainPythonFileUri"].rsplit("/", 1)[-1]: c for c in dataproc.created}
    assert set(by_script) == {"member_activity.py", "group_popularity.py", "event_attendance.py", "score_recommendations.py"}
    bucket = naming.spark_staging_bucket(env)
    for script, created in by_script.items():
        batch = created["batch"]
        assert created["path"] == "/v1/projects/acme-airflow-dev/locations/europe-west1/batches"
        execution = batch["environmentConfig"]["executionConfig"]
        assert execution["serviceAccount"] == "af-dev-spark@acme-airflow-dev.iam.gserviceaccount.com"
        assert execution["subnetworkUri"] == "projects/acme-airflow-dev/regions/europe-west1/subnetworks/af-dev-nodes"
        assert execution["stagingBucket"] == bucket
        assert batch["pysparkBatch"]["mainPythonFileUri"] == f"gs://{bucket}/dags/spark/{script}"
        assert batch["pysparkBatch"]["jarFileUris"] == [f"gs://{bucket}/jars/postgresql.jar"]
        assert created["batch_id"].startswith("recommendations-") and len(created["batch_id"]) <= 63
    score = by_script["score_recommendations.py"]["batch"]["pysparkBatch"]["args"]
    assert score == ["--jdbc-url", "jdbc:postgresql://warehouse.internal:5432/warehouse?user=etl",
                     "--output", "meetup.recommended_groups", "--top", "3"]
