"""The local object storage and task-log settings agree with each other and with GKE's."""

from __future__ import annotations

import json

from infra import naming
from infra.airflow_config import build, render_env
from infra.config import parse_environment

GKE = {"runtime": "gke", "gcp": {"project_id": "acme-dev-1", "region": "europe-west1", "zones": ["europe-west1-b"], "state_bucket": "acme-tf"}}


def _local():
    return parse_environment("local", {"runtime": "local", "local": {"s3_port": 19090, "gcs_port": 19023}}, "local.yaml")


def test_task_logs_go_to_the_task_logs_bucket_with_the_same_keys_on_both_runtimes():
    gke_env, local_env = parse_environment("dev", GKE, "dev.yaml"), _local()
    gke, local = build(gke_env), build(local_env)
    for settings, env in ((gke, gke_env), (local, local_env)):
        assert settings.get("logging", "remote_logging") == "True"
        assert settings.get("logging", "remote_base_log_folder") == f"gs://{naming.task_logs_bucket(env)}/tasks"
    assert naming.task_logs_bucket(gke_env) == naming.bucket(gke_env, "task-logs")  # the bucket stacks/logs.py creates
    # Locally the bucket exists on the GCS endpoint the logs are written to.
    gcs = local.component("gcs").command
    assert naming.task_logs_bucket(local_env) in gcs and gcs[gcs.index("--port") + 1] == "19023"


def test_local_processes_reach_the_storage_endpoints_they_supervise():
    settings = build(_local())
    env = render_env(settings, {name: "x" for name in settings.secrets.values()}, "/h")
    assert env["STORAGE_EMULATOR_HOST"] == "http://127.0.0.1:19023"
    aws = json.loads(env["AIRFLOW_CONN_AWS_DEFAULT"])
    assert aws["extra"]["endpoint_url"] == "http://127.0.0.1:19090"
    assert settings.component("s3").command[settings.component("s3").command.index("--port") + 1] == "19090"
    assert env["AIRFLOW__LOGGING__REMOTE_LOG_CONN_ID"] == "google_cloud_default"
    assert json.loads(env["AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT"])["extra"]["is_anonymous"] is True
    # GKE has none of it: Workload Identity and real endpoints.
    gke = build(parse_environment("dev", GKE, "dev.yaml"))
    assert gke.environment == {} and "s3" not in {c.name for c in gke.components}
