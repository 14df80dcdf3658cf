"""Bootstrap against a real local API server: the deploy makes the declared objects, a second run changes nothing."""

from __future__ import annotations

import json

import pytest
import yaml
from cryptography.fernet import Fernet
from rich.console import Console

from infra import naming
from infra.airflow_config import ADMIN_USER
from infra.bootstrap import bootstrap, password_token, sync, wanted
from infra.config import parse_environment
from infra.local.bootstrap import api_url

from platform_kit import Platform, write_env

pytestmark = pytest.mark.integration

DECLARED = {
    "pools": [{"name": "warehouse", "slots": 4, "description": "loads into the warehouse"}],
    "variables": [{"key": "etl_batch_size", "value": "500", "description": "rows per batch"}],
    "connections": [{"conn_id": "warehouse", "conn_type": "postgres", "host": "db.internal", "port": 5432,
                     "schema": "dwh", "login": "etl", "extra": {"sslmode": "require"}}],
}


class SecretStore:
    """Stands in for Secret Manager: values by secret id, each change a new version."""

    def __init__(self):
        self.versions: dict[str, list[str]] = {}
        self.reads = 0

    def add(self, secret_id: str, value: str) -> None:
        self.versions.setdefault(secret_id, []).append(value)

    def read(self, secret_id: str, where: str) -> tuple[str, str]:
        self.reads += 1
        values = self.versions[secret_id]
        return values[-1], f"projects/123/secrets/{secret_id}/versions/{len(values)}"


def _declare(env_path, bootstrap_section: dict) -> None:
    data = yaml.safe_load(env_path.read_text())
    data["bootstrap"] = bootstrap_section
    env_path.write_text(yaml.safe_dump(data))


def _with_secrets(env, extra: dict):
    """The environment with more declared objects (secret references cannot be deployed locally)."""
    data = env.model_dump(mode="json", by_alias=True, exclude={"name"})
    for kind, items in extra.items():
        data["bootstrap"][kind] = [*data["bootstrap"][kind], *items]
    return parse_environment(env.name, data, "environments/local.yaml")


def _console() -> Console:
    return Console(record=True, width=200)


def test_bootstrap_creates_what_is_declared_once_and_then_changes_nothing(tmp_path):
    env_path = write_env(tmp_path)
    _declare(env_path, DECLARED)
    platform = Platform(env_path)
    try:
        assert platform.deploy() == 0
        # The deploy created the canary's pool and the declared objects through the REST API.
        canary = platform.call("GET", "/pools/system_canary")
        assert (canary["slots"], canary["include_deferred"]) == (1, False)
        assert platform.call("GET", "/pools/warehouse")["slots"] == 4
        assert platform.call("GET", "/variables/etl_batch_size")["value"] == "500"
        conn = platform.call("GET", "/connections/warehouse")
        assert (conn["host"], conn["port"], conn["schema"], json.loads(conn["extra"])) == (
            "db.internal", 5432, "dwh", {"sslmode": "require"})

        store = SecretStore()
        store.add("af_local_warehouse_password", "first-password")
        store.add("af_local_api_key", "key-1")
        env = _with_secrets(platform.env, {
            "connections": [{"conn_id": "warehouse_secret", "conn_type": "postgres", "host": "db.internal",
                             "login": "etl", "password_secret": "af_local_warehouse_password"}],
            "variables": [{"key": "partner_api_key", "secret": "af_local_api_key"}],
        })
        password = json.loads((platform.folder / "airflow" / "passwords.json").read_text())["admin"]
        url = api_url(env)

        def run(**kwargs) -> str:
            out = _console()
            assert bootstrap(env, base_url=url, token=lambda: password_token(url, ADMIN_USER, password),
                             read_secret=store.read, console=out, **kwargs) == 0
            return out.export_text()

        first = run(wait_for_canary=True)
        assert "created connection warehouse_secret" in first
        assert "created variable partner_api_key" in first
        assert "the first system_canary run exists" in first
        assert "pool" not in first, "the deploy already made the pools: nothing to do for them"
        fernet = Fernet(json.loads((platform.folder / "secrets.json").read_text())[naming.secret_id(platform.env, "fernet_key")].encode())
        (stored,) = platform.sql("SELECT password FROM connection WHERE conn_id = 'warehouse_secret'")[0]
        assert fernet.decrypt(stored.encode()).decode() == "first-password"

        writes_before = _writes(platform)
        assert writes_before, "the audit log shows no REST writes: the check below would prove nothing"
        second = run(wait_for_canary=False)
        assert "local: nothing changed (6 objects already as declared)" in second
        assert _writes(platform) == writes_before, "a second run must not write"

        # A new secret version is noticed although the API never shows the password back.
        store.add("af_local_warehouse_password", "second-password")
        token = password_token(url, ADMIN_USER, password)
        from infra.bootstrap import AirflowApi

        results = {(item.kind, item.key): action for item, action in sync(AirflowApi(url, token), wanted(env, store.read))}
        assert results[("connection", "warehouse_secret")] == "updated"
        assert {k: v for k, v in results.items() if k != ("connection", "warehouse_secret")} == dict.fromkeys(
            set(results) - {("connection", "warehouse_secret")}, "unchanged")
        (stored,) = platform.sql("SELECT password FROM connection WHERE conn_id = 'warehouse_secret'")[0]
        assert fernet.decrypt(stored.encode()).decode() == "second-password"
    finally:
        platform.destroy()


def _writes(platform) -> list[tuple]:
    """Audit-log entries of the REST writes bootstrap could make (Airflow logs every POST/PATCH)."""
    events = [f"{verb}_{kind}" for verb in ("post", "patch") for kind in ("pool", "variable", "connection")]
    return platform.sql("SELECT id, event FROM log WHERE event = ANY(%s) ORDER BY id", events)
