"""The stack per environment: what it holds, its outputs, its backend, and no environment-specific branches."""

from __future__ import annotations

import json

from infra.config import load_environment
from infra.synth import synth_environments
from tests.stacks.stackkit import ENVIRONMENTS

OUTPUTS = {
    "cluster_name", "cluster_location", "cluster_endpoint", "cluster_dns_endpoint", "sql_instance_name", "sql_connection_name",
    "sql_private_ip", "database_name", "archive_bucket", "task_logs_bucket", "log_bucket",
    "airflow_service_account", "node_service_account", "secret_ids", "connections_secret_prefix",
    "state_bucket", "project_id", "region", "namespace",
}

RESOURCE_TYPES = {
    "google_compute_network", "google_compute_subnetwork", "google_compute_firewall", "google_compute_router",
    "google_compute_router_nat", "google_compute_global_address", "google_service_networking_connection",
    "google_container_cluster", "google_container_node_pool", "google_service_account",
    "google_service_account_iam_member", "google_project_iam_member", "google_sql_database_instance",
    "google_sql_database", "google_sql_user", "google_storage_bucket", "google_storage_bucket_iam_member",
    "google_logging_project_bucket_config", "google_logging_project_sink", "google_secret_manager_secret",
    "google_secret_manager_secret_iam_member", "google_artifact_registry_repository",
    "google_artifact_registry_repository_iam_member", "google_kms_crypto_key",
}


def test_stack_holds_every_concern(stack):
    assert set(stack.counts()) == RESOURCE_TYPES
    assert stack.counts()["google_container_node_pool"] == len(stack.env.gke.node_pools)


def test_outputs_the_cli_reads_exist(stack):
    assert OUTPUTS <= set(stack.raw["output"])


def test_outputs_point_at_the_right_resources(stack):
    env = stack.env
    assert stack.ref(stack.output("cluster_name")).path == "gke/cluster"
    assert stack.ref(stack.output("cluster_endpoint")).attribute == "endpoint"
    dns = stack.ref(stack.output("cluster_dns_endpoint"))
    assert (dns.path, dns.attribute) == ("gke/cluster", "control_plane_endpoints_config[0].dns_endpoint_config[0].endpoint")
    assert stack.ref(stack.output("sql_connection_name")).attribute == "connection_name"
    assert stack.ref(stack.output("sql_private_ip")).attribute == "private_ip_address"
    assert stack.ref(stack.output("task_logs_bucket")).path == "logs/task-logs-bucket"
    assert stack.ref(stack.output("archive_bucket")).path == "logs/archive-bucket"
    assert stack.ref(stack.output("airflow_service_account")).path == "iam/airflow"
    assert stack.ref(stack.output("node_service_account")).path == "gke/node-sa"
    assert stack.output("cluster_location") == (env.gcp.region if env.gke.regional else env.gcp.zones[0])
    assert stack.output("state_bucket") == env.gcp.state_bucket
    assert (stack.output("project_id"), stack.output("region")) == (env.gcp.project_id, env.gcp.region)
    assert stack.output("namespace") == env.airflow.namespace


def test_provider_labels_every_resource_with_the_environment(stack):
    (provider,) = stack.raw["provider"]["google"]
    assert provider["project"] == stack.env.gcp.project_id
    assert provider["default_labels"]["environment"] == stack.env.name


def test_without_the_gcs_backend_state_stays_in_the_stack_folder(stack):
    assert stack.raw["terraform"]["backend"] == {"local": {"path": "terraform.tfstate"}}


def test_each_environment_keeps_its_state_under_its_own_prefix(tmp_path):
    envs = [load_environment(ENVIRONMENTS / f"{name}.yaml") for name in ("prod", "qa")]
    results = synth_environments(envs, tmp_path / "cdktf.out", backend=True)
    backends = [json.loads(r.json_path.read_text())["terraform"]["backend"]["gcs"] for r in results]
    assert backends == [
        {"bucket": "acme-airflow-prod-tfstate", "prefix": "prod"},
        {"bucket": "acme-airflow-qa-tfstate", "prefix": "qa"},
    ]


def test_stacks_hold_no_environment_specific_branches(synthesized):
    # prodcopy.yaml is prod.yaml under another name: with the name swapped back, the JSON must be identical.
    prod, copy = synthesized["prod"], synthesized["prodcopy"]
    assert copy.counts() == prod.counts()
    as_prod = json.loads(copy.json_path.read_text().replace("prodcopy", "prod"))
    assert as_prod == prod.raw
