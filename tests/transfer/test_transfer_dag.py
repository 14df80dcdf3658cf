"""A `transfers:` pipeline run by Airflow (dag.test) through S3Hook and GCSHook against the real local
endpoints: the objects arrive, and Slack hears one start and one summary with objects and bytes copied."""

from __future__ import annotations

import pytest

from platform_dags.factory import build_dag, load_pipeline

pytestmark = pytest.mark.integration

PIPELINE = """
schedule: "@hourly"
owner: data-platform
alerts: {slack_channel: "#etl"}
defaults: {retries: 0}
transfers:
  - name: orders
    source: s3://dag-binlogs/orders/
    destination: gs://mirror/dag/orders/
    source_conn_id: aws_test
    destination_conn_id: gcp_test
  - name: users
    source: s3://dag-binlogs/users/
    destination: gs://mirror/dag/users/
    source_conn_id: aws_test
    destination_conn_id: gcp_test
"""


def test_a_transfer_run_copies_through_the_hooks_and_slack_tells_objects_and_bytes(
    endpoints, airflow_db, run_dag, slack_receiver, monkeypatch, tmp_path
):
    for key, value in endpoints.connections().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AIRFLOW__PLATFORM__SLACK_CONN_ID", "slack_test")
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(tmp_path))
    s3 = endpoints.s3()
    s3.create_bucket(Bucket="dag-binlogs")
    for folder, n in (("orders", 3), ("users", 2)):
        for i in range(n):
            s3.put_object(Bucket="dag-binlogs", Key=f"{folder}/mysql-bin.{i:06d}", Body=b"x" * 1500)
    path = tmp_path / "binlog_copy.yaml"
    path.write_text(PIPELINE)

    run = run_dag(build_dag(load_pipeline(path)))

    assert str(run.state) == "success"
    names = sorted(b.name for b in endpoints.gcs().list_blobs("mirror", prefix="dag/"))
    assert names == [f"dag/orders/mysql-bin.{i:06d}" for i in range(3)] + [f"dag/users/mysql-bin.{i:06d}" for i in range(2)]
    texts = slack_receiver.texts()
    assert len(texts) == 2, texts
    assert "binlog_copy started (2 transfers)" in texts[0]
    assert "2/2 transfers done, 0 failed" in texts[1]
    assert "copied 5 objects (7.5 KB), 0 up to date" in texts[1]
