"""The stats Jobs' identity: its own service account, Workload Identity to its own Kubernetes account, an IAM
database user, and Cloud SQL login roles only; the names are the ones the Job manifest uses."""

from __future__ import annotations

from infra import naming
from infra.stats_job import job_manifest


def test_stats_service_account_is_its_own_not_airflows(stack):
    account = stack.one("google_service_account", "iam/stats/service-account")
    assert account["account_id"] == naming.stats_service_account_id(stack.env) == f"af-{stack.env.name}-stats"
    assert account["account_id"] != stack.one("google_service_account", "iam/airflow")["account_id"]


def test_stats_workload_identity_binds_the_kubernetes_account_the_job_runs_as(stack):
    env = stack.env
    binding = stack.one("google_service_account_iam_member", "iam/stats/workload-identity")
    assert stack.ref(binding["service_account_id"]).path == "iam/stats/service-account"
    job = job_manifest(env, image="example/platform:1", args=["stats"], job_name="stats-x")
    ksa = f"{job.metadata.namespace}/{job.spec.template.spec.service_account_name}"
    assert binding["member"] == f"serviceAccount:{env.gcp.project_id}.svc.id.goog[{ksa}]"


def test_stats_identity_may_only_log_in_to_cloud_sql(stack):
    roles = {
        g["role"]
        for g in stack.all("google_project_iam_member").values()
        if stack.ref(g["member"]).path == "iam/stats/service-account"
    }
    assert roles == {"roles/cloudsql.client", "roles/cloudsql.instanceUser"}


def test_stats_database_user_is_the_iam_user_of_that_account(stack):
    user = stack.one("google_sql_user", "database/stats-iam-user")
    assert user["type"] == "CLOUD_IAM_SERVICE_ACCOUNT" and "password" not in user
    assert user["name"] == naming.stats_database_user(stack.env) == f"af-{stack.env.name}-stats@{stack.env.gcp.project_id}.iam"
    assert stack.ref(user["instance"]).path == "database/instance"
