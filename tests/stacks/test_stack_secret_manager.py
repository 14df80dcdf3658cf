"""Secret Manager: Airflow's secrets exist, their values never appear in synthesized JSON."""

from __future__ import annotations


def test_airflow_secrets_exist(stack):
    secrets = {s["secret_id"] for s in stack.all("google_secret_manager_secret").values()}
    name = stack.env.name
    assert secrets == {f"af_{name}_fernet_key", f"af_{name}_api_secret_key", f"af_{name}_jwt_secret",
                       f"af_{name}_oauth_client_id", f"af_{name}_oauth_client_secret"}
    for secret in stack.all("google_secret_manager_secret").values():
        assert secret["replication"] == {"auto": {}}


def test_no_secret_value_is_synthesized(stack):
    # The deploy task adds the values as versions through the API; Terraform only holds the containers.
    assert "google_secret_manager_secret_version" not in stack.resources_by_type
    text = stack.json_path.read_text()
    assert "secret_data" not in text
    assert "password" not in text


def test_secret_ids_and_connections_prefix_are_outputs(stack):
    name = stack.env.name
    assert stack.output("secret_ids") == {
        "fernet_key": f"af_{name}_fernet_key",
        "api_secret_key": f"af_{name}_api_secret_key",
        "jwt_secret": f"af_{name}_jwt_secret",
    }
    assert stack.output("connections_secret_prefix") == f"af_{name}_connections"


def test_oauth_client_secrets_are_the_ones_the_sign_in_reads(stack):
    from infra import naming

    created = {s["secret_id"] for s in stack.all("google_secret_manager_secret").values()}
    wanted = stack.output("oauth_secret_ids")
    assert wanted == {"client_id": naming.oauth_client_id_secret(stack.env),
                      "client_secret": naming.oauth_client_secret_secret(stack.env)}
    assert set(wanted.values()) <= created


def test_airflow_itself_is_not_granted_the_oauth_client_secret(stack):
    granted = {stack.ref(m["secret_id"]).path for m in stack.all("google_secret_manager_secret_iam_member").values()
               if m["secret_id"].startswith("${")}
    assert not any("oauth" in path for path in granted), granted
