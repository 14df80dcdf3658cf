"""The Cloud Storage, Secret Manager and Cloud KMS adapters, through Google's client libraries against a loopback server."""

from __future__ import annotations

import pytest
from google.oauth2.credentials import Credentials
from invoke.exceptions import Exit

from infra import cli
from infra.errors import UserError
from infra.gcp_apis import KeyRingApi, SecretVersionsApi, StateBucketApi
from tests.cli.helpers import closed_port

CREDS = Credentials(token="fixture-access-token")


def test_the_state_bucket_is_created_private_and_versioned_through_the_storage_api(fake_google):
    api = StateBucketApi(CREDS, endpoint=fake_google.url)
    assert api.exists("acme-airflow-dev-tfstate") is False
    api.create("acme-airflow-dev-tfstate", project="acme-airflow-dev", location="europe-west1", labels={"environment": "dev"})
    assert api.exists("acme-airflow-dev-tfstate") is True
    created = fake_google.buckets["acme-airflow-dev-tfstate"]
    assert created["project"] == "acme-airflow-dev" and created["location"] == "europe-west1"
    assert created["versioning"] == {"enabled": True}
    assert created["iamConfiguration"] == {"uniformBucketLevelAccess": {"enabled": True}, "publicAccessPrevention": "enforced"}
    assert [(m, p) for m, p, _ in fake_google.server.requests][:2] == [
        ("GET", "/storage/v1/b/acme-airflow-dev-tfstate"),
        ("POST", "/storage/v1/b"),
    ]
    assert all(r["auth"] == "Bearer fixture-access-token" for _, _, r in fake_google.server.requests)


def test_a_state_bucket_name_taken_by_someone_else_is_a_clear_error(fake_google):
    fake_google.forbidden_buckets.add("acme-airflow-prod-tfstate")
    with pytest.raises(UserError, match=r"^state bucket gs://acme-airflow-prod-tfstate exists but these credentials may not read it"):
        StateBucketApi(CREDS, endpoint=fake_google.url).exists("acme-airflow-prod-tfstate")


def test_a_secret_version_is_added_with_its_checksum_and_then_found(fake_google):
    api = SecretVersionsApi(CREDS, endpoint=fake_google.url)
    assert api.has_enabled_version("acme-airflow-prod", "af_prod_jwt_secret") is False
    name = api.add_version("acme-airflow-prod", "af_prod_jwt_secret", b"not-a-real-secret")
    assert name == "projects/123456789/secrets/af_prod_jwt_secret/versions/1"
    assert fake_google.versions["af_prod_jwt_secret"] == [b"not-a-real-secret"], "the server accepted the CRC32C"
    assert api.has_enabled_version("acme-airflow-prod", "af_prod_jwt_secret") is True


def test_a_secret_that_terraform_never_created_is_a_clear_error(fake_google):
    fake_google.secrets = set()
    with pytest.raises(UserError) as error:
        SecretVersionsApi(CREDS, endpoint=fake_google.url).has_enabled_version("acme-airflow-prod", "af_prod_jwt_secret")
    assert str(error.value) == "secret af_prod_jwt_secret does not exist in project acme-airflow-prod (was the infrastructure applied?)"


RING = "projects/acme-airflow-prod/locations/europe-west1/keyRings/af-pulumi"


def test_the_key_ring_is_created_once_through_the_kms_api(fake_google):
    api = KeyRingApi(CREDS, endpoint=fake_google.url)
    assert api.ensure(RING) is True
    assert api.ensure(RING) is False, "an existing ring is left as it is"
    assert list(fake_google.key_rings) == [RING]
    calls = [(m, p, r["query"].get("keyRingId")) for m, p, r in fake_google.server.requests]
    assert calls[:2] == [
        ("GET", f"/v1/{RING}", None),
        ("POST", "/v1/projects/acme-airflow-prod/locations/europe-west1/keyRings", ["af-pulumi"]),
    ]


def test_a_key_ring_the_credentials_may_not_read_is_one_line(fake_google):
    fake_google.kms_forbidden = True
    with pytest.raises(UserError) as error:
        KeyRingApi(CREDS, endpoint=fake_google.url).ensure(RING)
    assert str(error.value) == (
        f"these credentials may not read key ring {RING}: grant them roles/cloudkms.admin on the project, "
        "or create it once with `gcloud kms keyrings create af-pulumi --location europe-west1`"
    )


@pytest.mark.parametrize(
    "call",
    [
        lambda url: StateBucketApi(CREDS, endpoint=url, retry_deadline=0.5).exists("acme-airflow-prod-tfstate"),
        lambda url: SecretVersionsApi(CREDS, endpoint=url).has_enabled_version("acme-airflow-prod", "af_prod_jwt_secret"),
    ],
    ids=["cloud storage", "secret manager"],
)
def test_an_unreachable_google_api_is_one_line_at_the_cli_guard(call):
    port = closed_port()
    with pytest.raises(Exit) as stopped:
        cli.guarded(call, f"http://127.0.0.1:{port}")
    assert stopped.value.message == (
        f"error: cannot reach Google at 127.0.0.1:{port} ([Errno 111] Connection refused): "
        "check the network, the proxy (HTTPS_PROXY) and the firewall, then run the command again"
    )
