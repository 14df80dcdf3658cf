"""The Dataproc path: the CreateBatchRequest the operator's client sends, captured at its gRPC transport.

The hook builds its BatchControllerClient for Google's regional endpoint; the test checks that endpoint,
then hands the operator the same client class on a gRPC channel to a loopback server that records each
CreateBatchRequest and answers like Dataproc (operation created, batch SUCCEEDED).
The batch must carry what the dev environment's stack creates: runtime service account, subnetwork,
staging bucket, script URI in that bucket, the job's arguments.
"""

from __future__ import annotations

import json

import pytest

from cloud_kit import platform_env
from infra import naming
from infra.config import load_environment

pytestmark = pytest.mark.integration


class FakeDataproc:
    """Dataproc's BatchController as a gRPC server on 127.0.0.1: records CreateBatch, every batch succeeds."""

    SERVICE = "google.cloud.dataproc.v1.BatchController"

    def __init__(self) -> None:
        from concurrent import futures

        import grpc
        from google.cloud.dataproc_v1 import Batch, BatchOperationMetadata, CreateBatchRequest, GetBatchRequest
        from google.longrunning import operations_pb2

        self.created: list[CreateBatchRequest] = []

        def create(request, context):
            self.created.append(request)
            op = operations_pb2.Operation(name=f"{request.parent}/operations/op-{len(self.created)}")
            op.metadata.Pack(BatchOperationMetadata.pb(BatchOperationMetadata(batch=f"{request.parent}/batches/{request.batch_id}")))
            return op

        def get(request, context):
            return Batch(name=request.name, state=Batch.State.SUCCEEDED)

        handlers = {
            "CreateBatch": grpc.unary_unary_rpc_method_handler(
                create, request_deserializer=CreateBatchRequest.deserialize, response_serializer=operations_pb2.Operation.SerializeToString
            ),
            "GetBatch": grpc.unary_unary_rpc_method_handler(
                get, request_deserializer=GetBatchRequest.deserialize, response_serializer=Batch.serialize
            ),
        }
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        self.server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(self.SERVICE, handlers)])
        port = self.server.add_insecure_port("127.0.0.1:0")
        self.host = f"127.0.0.1:{port}"
        self.server.start()

    def close(self) -> None:
        self.server.stop(None)


@pytest.fixture
def dataproc(monkeypatch):
    import grpc
    from google.cloud.dataproc_v1 import BatchControllerClient
    from google.cloud.dataproc_v1.services.batch_controller.transports.grpc import BatchControllerGrpcTransport

    from airflow.providers.google.cloud.hooks.dataproc import DataprocHook

    fake = FakeDataproc()
    fake.endpoints = []

    def get_batch_client(hook, region=None):
        fake.endpoints.append(hook._get_api_endpoint(region=region))  # what the real client would call
        return BatchControllerClient(transport=BatchControllerGrpcTransport(channel=grpc.insecure_channel(fake.host)))

    monkeypatch.setattr(DataprocHook, "get_batch_client", get_batch_client)
    yield fake
    fake.close()


def test_recommendations_become_dataproc_batches_with_the_environments_identity_network_and_bucket(
    dataproc, monkeypatch, airflow_db, run_dag, dags_folder, tmp_path
):
    from platform_dags.factory import build_dag, load_pipeline

    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(tmp_path))
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", "postgres://etl@warehouse.internal:5432/warehouse")
    # On GKE the default Google connection is empty: credentials come from Workload Identity.
    monkeypatch.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", json.dumps({"conn_type": "google_cloud_platform"}))
    platform_env(monkeypatch, "dev")
    env = load_environment("dev")
    dag = build_dag(load_pipeline(dags_folder / "pipelines" / "recommendations.yaml"))
    for task in dag.tasks:
        task.retries = 0  # a failure here is the test's failure, not a 5-minute retry wait
    run = run_dag(dag)
    assert str(run.state) == "success"

    assert dataproc.endpoints and set(dataproc.endpoints) == {"europe-west1-dataproc.googleapis.com:443"}
    by_script = {r.batch.pyspark_batch.main_python_file_uri.rsplit("/", 1)[-1]: r for r in dataproc.created}
    assert set(by_script) == {"member_activity.py", "group_popularity.py", "event_attendance.py", "score_recommendations.py"}
    bucket = naming.spark_staging_bucket(env)
    for script, request in by_script.items():
        assert request.parent == "projects/acme-airflow-dev/regions/europe-west1"
        execution = request.batch.environment_config.execution_config
        assert execution.service_account == "af-dev-spark@acme-airflow-dev.iam.gserviceaccount.com"
        assert execution.subnetwork_uri == "projects/acme-airflow-dev/regions/europe-west1/subnetworks/af-dev-nodes"
        assert execution.staging_bucket == bucket
        assert request.batch.pyspark_batch.main_python_file_uri == f"gs://{bucket}/dags/spark/{script}"
        assert list(request.batch.pyspark_batch.jar_file_uris) == [f"gs://{bucket}/jars/postgresql.jar"]
        assert request.batch_id.startswith("recommendations-") and len(request.batch_id) <= 63
    score = list(by_script["score_recommendations.py"].batch.pyspark_batch.args)
    assert score == ["--jdbc-url", "jdbc:postgresql://warehouse.internal:5432/warehouse?user=etl",
                     "--output", "meetup.recommended_groups", "--top", "3"]
