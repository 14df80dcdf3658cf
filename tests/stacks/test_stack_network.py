"""The VPC: custom subnet with pod/service ranges, flow logs, NAT for private nodes, private service access."""

from __future__ import annotations


def test_vpc_is_custom_mode(stack):
    vpc = stack.one("google_compute_network")
    assert vpc["auto_create_subnetworks"] is False
    assert vpc["name"] == f"af-{stack.env.name}-vpc"


def test_subnet_has_pod_and_service_ranges_from_config(stack):
    subnet = stack.one("google_compute_subnetwork")
    net = stack.env.network
    assert subnet["ip_cidr_range"] == str(net.nodes_cidr)
    ranges = {r["range_name"]: r["ip_cidr_range"] for r in subnet["secondary_ip_range"]}
    assert ranges == {"pods": str(net.pods_cidr), "services": str(net.services_cidr)}
    assert subnet["region"] == stack.env.gcp.region


def test_subnet_reaches_google_apis_privately_and_logs_flows(stack):
    subnet = stack.one("google_compute_subnetwork")
    assert subnet["private_ip_google_access"] is True
    assert subnet["log_config"]["flow_sampling"] == stack.env.network.flow_log_sampling


def test_nat_gives_the_node_subnet_egress(stack):
    nat = stack.one("google_compute_router_nat")
    assert stack.ref(nat["router"]).path == "network/router"
    assert nat["source_subnetwork_ip_ranges_to_nat"] == "LIST_OF_SUBNETWORKS"
    (subnet,) = nat["subnetwork"]
    assert stack.ref(subnet["name"]).path == "network/subnet"
    assert nat["log_config"]["enable"] is True


def test_private_service_access_range_is_reserved_for_cloud_sql(stack):
    address = stack.one("google_compute_global_address", "network/psa-range")
    psa = stack.env.network.private_service_access_cidr
    assert (address["purpose"], address["address_type"]) == ("VPC_PEERING", "INTERNAL")
    assert f"{address['address']}/{address['prefix_length']}" == str(psa)


def test_service_networking_connection_is_abandoned_not_deleted_on_teardown(stack):
    connection = stack.one("google_service_networking_connection")
    assert connection["service"] == "servicenetworking.googleapis.com"
    assert connection["deletion_policy"] == "ABANDON"
    assert [stack.ref(r).path for r in connection["reserved_peering_ranges"]] == ["network/psa-range"]


def test_ingress_is_denied_by_an_explicit_logged_rule(stack):
    rule = stack.one("google_compute_firewall")
    assert rule["direction"] == "INGRESS"
    assert rule["deny"] == [{"protocol": "all"}]
    assert "allow" not in rule
    assert "log_config" in rule
