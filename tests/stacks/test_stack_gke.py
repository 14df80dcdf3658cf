"""The private GKE cluster, its node pools and its node service account."""

from __future__ import annotations

import pytest


def test_nodes_are_private(stack):
    private = stack.one("google_container_cluster")["private_cluster_config"]
    assert private["enable_private_nodes"] is True
    assert private["master_ipv4_cidr_block"] == str(stack.env.network.control_plane_cidr)


def test_ip_endpoint_is_reachable_only_from_authorized_networks(stack):
    config = stack.one("google_container_cluster")["master_authorized_networks_config"]
    expected = [{"cidr_block": str(n.cidr), "display_name": n.name} for n in stack.env.network.authorized_networks]
    assert config["cidr_blocks"] == expected
    assert config["gcp_public_cidrs_access_enabled"] is False


def test_dns_endpoint_lets_ci_in_through_iam_alone(stack):
    endpoints = stack.one("google_container_cluster")["control_plane_endpoints_config"]
    dns = endpoints["dns_endpoint_config"]
    assert dns["allow_external_traffic"] is True, "CI runners are in no authorized network"
    # IAM only: Kubernetes certificates and tokens are not accepted over the DNS endpoint.
    assert not dns.get("enable_k8s_certs_via_dns") and not dns.get("enable_k8s_tokens_via_dns")
    assert "ip_endpoints_config" not in endpoints, "the IP endpoint stays on, behind its authorized networks"


def test_default_node_pool_is_removed(stack):
    assert stack.one("google_container_cluster")["remove_default_node_pool"] is True


def test_cluster_hardening(stack):
    cluster = stack.one("google_container_cluster")
    assert cluster["workload_identity_config"] == {"workload_pool": f"{stack.env.gcp.project_id}.svc.id.goog"}
    assert cluster["datapath_provider"] == "ADVANCED_DATAPATH"
    assert cluster["enable_shielded_nodes"] is True
    assert cluster["enable_legacy_abac"] is False
    assert cluster["master_auth"]["client_certificate_config"]["issue_client_certificate"] is False
    assert cluster["release_channel"] == {"channel": stack.env.gke.release_channel}
    assert cluster["deletion_protection"] is stack.env.gke.deletion_protection


def test_system_components_and_workloads_are_logged_and_monitored(stack):
    cluster = stack.one("google_container_cluster")
    assert set(cluster["logging_config"]["enable_components"]) == {"SYSTEM_COMPONENTS", "WORKLOADS"}
    assert "SYSTEM_COMPONENTS" in cluster["monitoring_config"]["enable_components"]
    assert cluster["monitoring_config"]["managed_prometheus"]["enabled"] is True


def test_prod_cluster_is_regional_across_its_zones(prod):
    cluster = prod.one("google_container_cluster")
    assert cluster["location"] == "europe-west1"
    assert cluster["node_locations"] == prod.env.gcp.zones


@pytest.mark.parametrize("name", ["dev", "qa"])
def test_zonal_clusters_sit_in_the_first_zone(synthesized, name):
    stack = synthesized[name]
    cluster = stack.one("google_container_cluster")
    assert cluster["location"] == stack.env.gcp.zones[0]
    assert "node_locations" not in cluster


def test_maintenance_window_comes_from_config(prod):
    window = prod.one("google_container_cluster")["maintenance_policy"]["recurring_window"]
    # prod.yaml: Sundays, 00:00 UTC, 12 hours (GKE's 48 h per 32 days minimum).
    assert window["recurrence"] == "FREQ=WEEKLY;BYDAY=SU"
    assert window["start_time"].endswith("T00:00:00Z")
    assert window["end_time"].endswith("T12:00:00Z")
    assert window["start_time"][:10] == window["end_time"][:10]


def test_node_pools_follow_config(stack):
    pools = stack.all("google_container_node_pool")
    assert sorted(p["name"] for p in pools.values()) == sorted(p.name for p in stack.env.gke.node_pools)
    for pool in stack.env.gke.node_pools:
        synthesized = pools[f"gke/pool-{pool.name}"]
        assert synthesized["autoscaling"] == {"min_node_count": pool.min_nodes, "max_node_count": pool.max_nodes}
        assert synthesized["management"] == {"auto_repair": True, "auto_upgrade": True}
        node = synthesized["node_config"]
        assert node["machine_type"] == pool.machine_type
        assert node["disk_size_gb"] == pool.disk_size_gb
        assert node["spot"] is pool.spot
        assert node.get("labels", {}) == pool.labels
        assert stack.ref(synthesized["cluster"]).path == "gke/cluster"


def test_prod_worker_pool_is_tainted_for_tasks(prod):
    node = prod.one("google_container_node_pool", "gke/pool-workers-v1")["node_config"]
    assert node["taint"] == [{"key": "workload", "value": "airflow-tasks", "effect": "NO_SCHEDULE"}]
    assert node["labels"] == {"workload": "airflow-tasks"}


def test_dev_workers_are_spot(dev):
    assert dev.one("google_container_node_pool", "gke/pool-workers-v1")["node_config"]["spot"] is True


def test_every_node_is_shielded_and_hides_node_credentials(stack):
    configs = [stack.one("google_container_cluster")["node_config"]]
    configs += [p["node_config"] for p in stack.all("google_container_node_pool").values()]
    for node in configs:
        assert node["shielded_instance_config"] == {"enable_secure_boot": True, "enable_integrity_monitoring": True}
        assert node["workload_metadata_config"] == {"mode": "GKE_METADATA"}
        assert node["image_type"] == "COS_CONTAINERD"
        assert node["metadata"]["disable-legacy-endpoints"] == "true"
        assert stack.ref(node["service_account"]).path == "gke/node-sa"


def test_node_service_account_has_only_node_roles(stack):
    grants = {
        b["role"] for b in stack.all("google_project_iam_member").values() if stack.ref(b["member"]).path == "gke/node-sa"
    }
    assert grants == {"roles/container.defaultNodeServiceAccount", "roles/artifactregistry.reader"}
