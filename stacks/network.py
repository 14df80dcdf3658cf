"""The environment's VPC: subnet with pod/service ranges, Cloud NAT for private nodes, private service access.

Private GKE nodes have no external IP, so they reach the internet (image pulls, DAG repository)
through Cloud Router + Cloud NAT. Cloud SQL gets a private IP through a reserved range peered with
Google's service producer network (private service access).
"""

from __future__ import annotations

from cdktn_provider_google.compute_firewall import ComputeFirewall, ComputeFirewallDeny
from cdktn_provider_google.compute_global_address import ComputeGlobalAddress
from cdktn_provider_google.compute_network import ComputeNetwork
from cdktn_provider_google.compute_router import ComputeRouter
from cdktn_provider_google.compute_router_nat import ComputeRouterNat, ComputeRouterNatSubnetwork
from cdktn_provider_google.compute_subnetwork import ComputeSubnetwork, ComputeSubnetworkSecondaryIpRange
from cdktn_provider_google.service_networking_connection import ServiceNetworkingConnection
from constructs import Construct

from infra import naming
from infra.config import Environment

PODS_RANGE = "pods"
SERVICES_RANGE = "services"


class Network(Construct):
    """VPC, subnet, router, NAT and the private service access connection of one environment."""

    def __init__(self, scope: Construct, id_: str, *, config: Environment) -> None:
        super().__init__(scope, id_)
        assert config.gcp is not None
        net = config.network
        region = config.gcp.region

        self.vpc = ComputeNetwork(
            self,
            "vpc",
            name=naming.name(config, "vpc"),
            # Auto mode creates a subnet in every region with ranges we do not control.
            auto_create_subnetworks=False,
            routing_mode="REGIONAL",
        )
        self.subnet = ComputeSubnetwork(
            self,
            "subnet",
            name=naming.name(config, "nodes"),
            region=region,
            network=self.vpc.id,
            ip_cidr_range=str(net.nodes_cidr),
            secondary_ip_range=[
                ComputeSubnetworkSecondaryIpRange(range_name=PODS_RANGE, ip_cidr_range=str(net.pods_cidr)),
                ComputeSubnetworkSecondaryIpRange(range_name=SERVICES_RANGE, ip_cidr_range=str(net.services_cidr)),
            ],
            # Nodes without external IPs must still reach Google APIs (Artifact Registry, Logging, Secret Manager).
            private_ip_google_access=True,
            log_config={
                "aggregation_interval": "INTERVAL_5_SEC",
                "flow_sampling": net.flow_log_sampling,
                "metadata": "INCLUDE_ALL_METADATA",
            },
        )
        # Ingress is closed unless a rule opens it (GKE adds its own rules for the control plane and nodes);
        # the explicit rule logs what it drops, which the implied rule never does.
        self.deny_ingress = ComputeFirewall(
            self,
            "deny-all-ingress",
            name=naming.name(config, "deny-all-ingress"),
            network=self.vpc.id,
            direction="INGRESS",
            priority=65534,
            source_ranges=["0.0.0.0/0"],
            deny=[ComputeFirewallDeny(protocol="all")],
            log_config={"metadata": "EXCLUDE_ALL_METADATA"},
        )
        self.router = ComputeRouter(self, "router", name=naming.name(config, "router"), region=region, network=self.vpc.id)
        self.nat = ComputeRouterNat(
            self,
            "nat",
            name=naming.name(config, "nat"),
            router=self.router.name,
            region=region,
            nat_ip_allocate_option="AUTO_ONLY",
            # Only the node subnet gets egress; anything added to the VPC later stays closed until decided.
            source_subnetwork_ip_ranges_to_nat="LIST_OF_SUBNETWORKS",
            subnetwork=[ComputeRouterNatSubnetwork(name=self.subnet.id, source_ip_ranges_to_nat=["ALL_IP_RANGES"])],
            log_config={"enable": True, "filter": "ERRORS_ONLY"},
        )
        self.private_service_range = ComputeGlobalAddress(
            self,
            "psa-range",
            name=naming.name(config, "psa"),
            purpose="VPC_PEERING",
            address_type="INTERNAL",
            address=str(net.private_service_access_cidr.network_address),
            prefix_length=net.private_service_access_cidr.prefixlen,
            network=self.vpc.id,
        )
        self.private_service_connection = ServiceNetworkingConnection(
            self,
            "psa-connection",
            network=self.vpc.id,
            service="servicenetworking.googleapis.com",
            reserved_peering_ranges=[self.private_service_range.name],
            # Deleting the peering fails while Cloud SQL still holds it; abandoning lets a QA teardown finish.
            deletion_policy="ABANDON",
        )
