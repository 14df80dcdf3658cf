"""What the k8s/ program needs from the stacks: its secrets key in the project's key ring, the UI's address."""

from __future__ import annotations

from infra import naming


def test_the_pulumi_secrets_key_is_the_one_the_deploy_gives_pulumi(stack):
    key = stack.one("google_kms_crypto_key", "cluster-side/pulumi-secrets-key")
    assert key["key_ring"] == naming.pulumi_key_ring(stack.env), "the ring is referenced by id, never created by a stack"
    assert "google_kms_key_ring" not in stack.counts(), "key rings cannot be deleted: the deploy creates the project's one"
    assert key["name"] == naming.pulumi_secrets_key(stack.env)
    assert key["purpose"] == "ENCRYPT_DECRYPT"
    assert int(key["rotation_period"].removesuffix("s")) <= 90 * 24 * 3600
    # The output the deploy could read is the resource's own id, and it names what naming gives pulumi.
    assert stack.ref(stack.output("pulumi_secrets_provider").removeprefix("gcpkms://")).path == "cluster-side/pulumi-secrets-key"
    assert naming.pulumi_secrets_provider(stack.env) == f"gcpkms://{key['key_ring']}/cryptoKeys/{key['name']}"


def test_only_a_protected_environment_refuses_to_destroy_its_key(stack):
    key = stack.one("google_kms_crypto_key", "cluster-side/pulumi-secrets-key")
    assert key.get("lifecycle", {}).get("prevent_destroy", False) is stack.env.protected


def test_a_public_ui_gets_a_global_static_address_and_an_internal_one_none(stack):
    addresses = {path: a for path, a in stack.all("google_compute_global_address").items() if path.startswith("cluster-side/")}
    if stack.env.airflow.ui.host is None:
        assert addresses == {} and "ui_address" not in stack.raw["output"]
        return
    address = addresses["cluster-side/ui-address"]
    assert address["name"] == naming.ui_address(stack.env), "the Ingress claims it by this name"
    assert address["address_type"] == "EXTERNAL" and "network" not in address and "purpose" not in address
    assert stack.ref(stack.output("ui_address")) == type(stack.ref(stack.output("ui_address")))(
        "google_compute_global_address", "cluster-side/ui-address", "address")
