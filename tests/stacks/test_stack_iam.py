"""Airflow's Google service account: Workload Identity, only the roles it needs, no basic roles anywhere."""

from __future__ import annotations

BASIC_ROLES = {"roles/owner", "roles/editor", "roles/viewer"}


def _airflow_grants(stack) -> list[tuple[str, dict]]:
    grants = []
    for kind in (
        "google_project_iam_member",
        "google_storage_bucket_iam_member",
        "google_secret_manager_secret_iam_member",
    ):
        for grant in stack.all(kind).values():
            if stack.ref(grant["member"]).path == "iam/airflow":
                grants.append((kind, grant))
    return grants


def test_airflow_service_account_is_bound_to_its_kubernetes_service_account(stack):
    binding = stack.one("google_service_account_iam_member", "iam/workload-identity")
    env = stack.env
    assert binding["role"] == "roles/iam.workloadIdentityUser"
    assert binding["member"] == f"serviceAccount:{env.gcp.project_id}.svc.id.goog[{env.airflow.namespace}/airflow]"
    assert stack.ref(binding["service_account_id"]).path == "iam/airflow"


def test_airflow_project_roles_are_exactly_sql_and_logging(stack):
    project_roles = {
        g["role"] for kind, g in _airflow_grants(stack) if kind == "google_project_iam_member" and "condition" not in g
    }
    assert project_roles == {"roles/cloudsql.client", "roles/cloudsql.instanceUser", "roles/logging.logWriter"}


def test_airflow_is_object_admin_on_its_task_logs_and_spark_staging_buckets_only(stack):
    buckets = [
        (g["role"], stack.ref(g["bucket"]).path)
        for kind, g in _airflow_grants(stack)
        if kind == "google_storage_bucket_iam_member"
    ]
    # The Spark staging bucket: Airflow syncs the DAG repository's scripts there (Spark on Dataproc).
    expected = [("roles/storage.objectAdmin", "logs/task-logs-bucket")]
    if stack.env.spark is not None and stack.env.spark.target == "dataproc":
        expected.append(("roles/storage.objectAdmin", "spark/staging-bucket"))
    assert sorted(buckets) == sorted(expected)


def test_airflow_reads_only_its_own_secrets(stack):
    secrets = sorted(
        stack.ref(g["secret_id"]).path
        for kind, g in _airflow_grants(stack)
        if kind == "google_secret_manager_secret_iam_member" and g["role"] == "roles/secretmanager.secretAccessor"
    )
    assert secrets == ["secrets/api-secret-key", "secrets/fernet-key", "secrets/jwt-secret"]
    by_prefix = [g for kind, g in _airflow_grants(stack) if "condition" in g]
    assert {g["role"] for g in by_prefix} == {"roles/secretmanager.secretAccessor"}
    expressions = sorted(g["condition"]["expression"] for g in by_prefix)
    assert len(expressions) == 2
    assert f'startsWith("af_{stack.env.name}_connections")' in expressions[0]
    assert f'startsWith("af_{stack.env.name}_variables")' in expressions[1]


def test_no_basic_roles_anywhere(stack):
    for kind, items in stack.resources_by_type.items():
        for body in items.values():
            assert body.get("role") not in BASIC_ROLES, f"{kind} grants {body.get('role')}"


def test_airflow_and_node_service_accounts_are_distinct(stack):
    accounts = {a["account_id"] for a in stack.all("google_service_account").values()}
    spark = {f"af-{stack.env.name}-spark"} if stack.env.spark is not None and stack.env.spark.target == "dataproc" else set()
    assert accounts == {f"af-{stack.env.name}-airflow", f"af-{stack.env.name}-gke-nodes", f"af-{stack.env.name}-stats"} | spark
