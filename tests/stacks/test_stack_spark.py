"""What Dataproc Serverless needs, from environments/*.yaml: runtime account, grants, bucket, network."""

from __future__ import annotations

import pytest

from infra import naming
from infra.airflow_config import build

ENVS = ("dev", "qa", "prod")


@pytest.fixture(params=ENVS)
def stack(request, synthesized):
    return synthesized[request.param]



def test_runtime_service_account_has_dataproc_worker_and_nothing_else(stack):
    account = stack.one("google_service_account", "spark/runtime")
    assert f"{account['account_id']}@{stack.env.gcp.project_id}.iam.gserviceaccount.com" == naming.spark_service_account(stack.env)
    roles = {g["role"] for g in stack.all("google_project_iam_member").values() if stack.ref(g["member"]).path == "spark/runtime"}
    assert roles == {"roles/dataproc.worker"}


def test_airflow_may_act_as_the_runtime_account_only(stack):
    acts = [g for g in stack.all("google_service_account_iam_member").values() if g["role"] == "roles/iam.serviceAccountUser"]
    assert len(acts) == 1, "one serviceAccountUser grant, on the Spark runtime account"
    assert stack.ref(acts[0]["service_account_id"]).path == "spark/runtime"
    assert stack.ref(acts[0]["member"]).path == "iam/airflow"


def test_staging_bucket_is_private_versioned_and_named_as_the_dag_side_expects(stack):
    bucket = stack.one("google_storage_bucket", "spark/staging-bucket")
    assert bucket["uniform_bucket_level_access"] is True and bucket["public_access_prevention"] == "enforced"
    assert bucket["versioning"]["enabled"] is True and bucket["force_destroy"] is False
    platform = build(stack.env).config
    assert bucket["name"] == platform["platform", "spark_staging_bucket"]
    assert platform["platform", "spark_scripts_uri"] == f"gs://{bucket['name']}/dags"


def test_batches_run_in_the_subnetwork_with_private_google_access(stack):
    subnet = stack.one("google_compute_subnetwork", "network/subnet")
    assert subnet["private_ip_google_access"] is True
    uri = build(stack.env).config["platform", "spark_subnetwork_uri"]
    assert uri.endswith(f"/regions/{subnet['region']}/subnetworks/{subnet['name']}")


def test_stack_exports_the_runtime_account_and_bucket(stack):
    assert stack.ref(stack.output("spark_staging_bucket")).path == "spark/staging-bucket"
