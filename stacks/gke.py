"""The private GKE cluster Airflow runs on, its node pools and their dedicated service account.

Hardened the way terraform-google-modules' safer-cluster is: private nodes, control plane reachable
only from authorized networks, Workload Identity, Dataplane V2 (network policy enforced), shielded
nodes, COS images, legacy metadata endpoints off. Pools, sizes, release channel, maintenance window
and deletion protection come from the environment.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from cdktn_provider_google.container_cluster import (
    ContainerCluster,
    ContainerClusterMasterAuthorizedNetworksConfigCidrBlocks,
)
from cdktn_provider_google.container_node_pool import ContainerNodePool, ContainerNodePoolNodeConfigTaint
from cdktn_provider_google.project_iam_member import ProjectIamMember
from cdktn_provider_google.service_account import ServiceAccount
from constructs import Construct

from infra import naming
from infra.config import Environment, GkeMaintenance
from stacks.network import PODS_RANGE, SERVICES_RANGE, Network

# What a node needs and nothing more: GKE's own minimal node role (logs, metrics, metadata) and image pulls.
NODE_ROLES = ("roles/container.defaultNodeServiceAccount", "roles/artifactregistry.reader")
# Access is governed by IAM on the node service account; the scope only stops being a second, coarser gate.
NODE_SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
# Any date works: GKE reads the time of day and the duration from it, the days from the recurrence rule.
WINDOW_ANCHOR = datetime(2025, 1, 6)


def maintenance_window(maintenance: GkeMaintenance) -> dict[str, str]:
    """A recurring weekly window as GKE wants it: RFC 3339 start and end plus an RRULE."""
    start = datetime.combine(WINDOW_ANCHOR.date(), maintenance.start_time)
    end = start + timedelta(hours=maintenance.duration_hours)
    return {
        "start_time": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "end_time": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "recurrence": "FREQ=WEEKLY;BYDAY=" + ",".join(maintenance.days),
    }


def _hardened_node_config(service_account: str) -> dict:
    """Node settings that never vary between pools or environments."""
    return {
        "service_account": service_account,
        "oauth_scopes": NODE_SCOPES,
        # Container-Optimized OS: read-only root, minimal packages, patched by Google.
        "image_type": "COS_CONTAINERD",
        # Secure boot and integrity monitoring detect boot-level tampering (rootkits).
        "shielded_instance_config": {"enable_secure_boot": True, "enable_integrity_monitoring": True},
        # Pods see the GKE metadata server: Workload Identity, and no access to the node's own credentials.
        "workload_metadata_config": {"mode": "GKE_METADATA"},
        "metadata": {"disable-legacy-endpoints": "true"},
    }


class Gke(Construct):
    """Node service account and its roles, the private cluster, and one node pool per configured pool."""

    def __init__(self, scope: Construct, id_: str, *, config: Environment, network: Network) -> None:
        super().__init__(scope, id_)
        assert config.gcp is not None
        gcp, gke = config.gcp, config.gke
        labels = naming.labels(config)

        self.node_service_account = ServiceAccount(
            self,
            "node-sa",
            account_id=naming.name(config, "gke-nodes", "service_account"),
            display_name=f"GKE nodes ({config.name})",
            description="Dedicated least-privilege identity of the GKE nodes (not the Compute Engine default).",
        )
        self.node_service_account_email = naming.service_account_email(config, "gke-nodes")
        for role in NODE_ROLES:
            ProjectIamMember(
                self,
                f"node-sa-{role.removeprefix('roles/').replace('.', '-')}",
                project=gcp.project_id,
                role=role,
                member=self.node_service_account.member,
            )

        self.location = gcp.region if gke.regional else gcp.zones[0]
        hardened = _hardened_node_config(self.node_service_account.email)
        self.cluster = ContainerCluster(
            self,
            "cluster",
            name=naming.name(config, "gke", "cluster"),
            location=self.location,
            node_locations=gcp.zones if gke.regional else None,
            network=network.vpc.id,
            subnetwork=network.subnet.id,
            deletion_protection=gke.deletion_protection,
            resource_labels=labels,
            # Node pools are managed below so they can change without recreating the cluster; GKE insists on
            # creating a first pool, which is removed right away (and hardened in the meantime).
            remove_default_node_pool=True,
            initial_node_count=1,
            node_config=hardened,
            ip_allocation_policy={
                "cluster_secondary_range_name": PODS_RANGE,
                "services_secondary_range_name": SERVICES_RANGE,
            },
            private_cluster_config={
                # Nodes never get public IPs (egress goes through Cloud NAT).
                "enable_private_nodes": True,
                # The public endpoint stays, restricted to the authorized networks: CI and operators reach it
                # without a bastion host.
                "enable_private_endpoint": False,
                "master_ipv4_cidr_block": str(config.network.control_plane_cidr),
            },
            master_authorized_networks_config={
                "cidr_blocks": [
                    ContainerClusterMasterAuthorizedNetworksConfigCidrBlocks(cidr_block=str(n.cidr), display_name=n.name)
                    for n in config.network.authorized_networks
                ],
                # Google Cloud's public IP ranges are not the company's networks.
                "gcp_public_cidrs_access_enabled": False,
            },
            # The DNS-based endpoint too: CI runners are in no authorized network, and this endpoint is
            # authorized by IAM alone (Google credentials with container permissions), with no IP allow-list.
            # Kubernetes client certificates and tokens stay refused on it (the provider's defaults).
            control_plane_endpoints_config={"dns_endpoint_config": {"allow_external_traffic": True}},
            master_auth={"client_certificate_config": {"issue_client_certificate": False}},
            workload_identity_config={"workload_pool": f"{gcp.project_id}.svc.id.goog"},
            release_channel={"channel": gke.release_channel},
            # Dataplane V2 (eBPF) enforces Kubernetes network policies without the Calico add-on.
            datapath_provider="ADVANCED_DATAPATH",
            # Dataplane V2 enforces policies itself; the Calico add-on must stay off (GKE rejects both).
            network_policy={"enabled": False, "provider": "PROVIDER_UNSPECIFIED"},
            enable_shielded_nodes=True,
            enable_legacy_abac=False,
            # Pod-to-pod traffic on a node shows up in VPC flow logs too.
            enable_intranode_visibility=True,
            binary_authorization={"evaluation_mode": "PROJECT_SINGLETON_POLICY_ENFORCE"},
            security_posture_config={"mode": "BASIC", "vulnerability_mode": "VULNERABILITY_BASIC"},
            maintenance_policy={"recurring_window": maintenance_window(gke.maintenance)},
            logging_config={"enable_components": ["SYSTEM_COMPONENTS", "WORKLOADS"]},
            monitoring_config={
                "enable_components": ["SYSTEM_COMPONENTS"],
                "managed_prometheus": {"enabled": True},
            },
        )

        self.node_pools: dict[str, ContainerNodePool] = {}
        for pool in gke.node_pools:
            self.node_pools[pool.name] = ContainerNodePool(
                self,
                f"pool-{pool.name}",
                name=pool.name,
                cluster=self.cluster.id,
                location=self.location,
                autoscaling={"min_node_count": pool.min_nodes, "max_node_count": pool.max_nodes},
                # Broken nodes are replaced and nodes follow the release channel: never pinned, never hand-fixed.
                management={"auto_repair": True, "auto_upgrade": True},
                node_config={
                    **hardened,
                    "machine_type": pool.machine_type,
                    "disk_size_gb": pool.disk_size_gb,
                    "disk_type": pool.disk_type,
                    "spot": pool.spot,
                    "labels": pool.labels,
                    "resource_labels": labels,
                    "taint": [
                        ContainerNodePoolNodeConfigTaint(key=t.key, value=t.value, effect=t.effect) for t in pool.taints
                    ],
                },
            )
