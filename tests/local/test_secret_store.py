"""The local secret store: values under the same secret ids as Secret Manager, an existing key kept."""

from __future__ import annotations

import json

from cryptography.fernet import Fernet

from infra.airflow_config import build
from infra.config import parse_environment
from infra.local import state


def _local():
    data = {"runtime": "local", "airflow": {"executor": "LocalExecutor"}, "local": {"folder": "/tmp/unused"}}
    return parse_environment("local", data, "local.yaml")


def test_secrets_are_stored_under_the_terraform_secret_ids_and_generated_once(tmp_path):
    settings = build(_local())
    values, created = state.load_secrets(tmp_path, settings)
    assert created
    Fernet(values["af_local_fernet_key"])  # a real Fernet key
    assert {"af_local_api_secret_key", "af_local_jwt_secret", state.ADMIN_PASSWORD} <= set(values)
    again, created_again = state.load_secrets(tmp_path, settings)
    assert again == values and not created_again


def test_a_fernet_key_stored_under_its_old_name_is_kept(tmp_path):
    old_key = Fernet.generate_key().decode()
    (tmp_path / "secrets.json").write_text(json.dumps({"fernet-key": old_key, "api-secret-key": "a", "jwt-secret": "j"}))
    values, _ = state.load_secrets(tmp_path, build(_local()))
    assert values["af_local_fernet_key"] == old_key  # what the local database was encrypted with
    assert len(values["af_local_api_secret_key"]) >= 64  # too short for its HMAC: replaced
    stored = json.loads((tmp_path / "secrets.json").read_text())
    assert "fernet-key" not in stored and stored["af_local_fernet_key"] == old_key
