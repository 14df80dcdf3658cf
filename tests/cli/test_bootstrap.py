"""`invoke bootstrap`: secrets read from Secret Manager (loopback, real JSON shapes), bad input as one line.

The idempotence against a real API server is tests/local/test_bootstrap.py.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from google.oauth2.credentials import Credentials

from infra.bootstrap import no_secrets_here, secret_manager_reader, wanted
from infra.config import parse_environment
from infra.errors import ConfigError, UserError
from infra.gcp_apis import SecretVersionsApi
from tests.cli.helpers import load_env
from tests.stacks.stackkit import ROOT

GCP = {"project_id": "acme-airflow-prod", "region": "europe-west1", "zones": ["europe-west1-b"], "state_bucket": "acme-tfstate"}


def _env(runtime: str, bootstrap: dict):
    data = {"runtime": runtime, "bootstrap": bootstrap, **({"gcp": GCP} if runtime == "gke" else {})}
    return parse_environment("envx", data, "environments/envx.yaml")


def _invoke(*args: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "invoke", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={**os.environ, **env})


def test_connection_password_comes_from_the_latest_secret_version(fake_google):
    fake_google.versions["af_envx_warehouse"] = [b"old", b"s3cret-from-secret-manager"]
    env = _env("gke", {"connections": [{"conn_id": "warehouse", "conn_type": "postgres", "password_secret": "af_envx_warehouse"}]})
    api = SecretVersionsApi(Credentials(token="fixture-access-token"), endpoint=fake_google.url)

    (_, conn) = wanted(env, secret_manager_reader(env, api))

    assert conn.body["password"] == "s3cret-from-secret-manager"
    # The version, never the value, is what a later run compares.
    assert conn.body["description"] == "(from Secret Manager projects/123456789/secrets/af_envx_warehouse/versions/2)"
    assert "s3cret" not in repr(conn.compared)


def test_a_missing_secret_is_one_line_naming_it(fake_google):
    env = _env("gke", {"variables": [{"key": "partner_key", "secret": "af_envx_missing"}]})
    api = SecretVersionsApi(Credentials(token="fixture-access-token"), endpoint=fake_google.url)
    with pytest.raises(UserError) as error:
        wanted(env, secret_manager_reader(env, api))
    assert str(error.value) == "secret af_envx_missing in project acme-airflow-prod does not exist or has no enabled version"


def test_local_has_no_secret_manager_and_says_which_key():
    env = _env("local", {"variables": [{"key": "a", "value": "1"}, {"key": "partner_key", "secret": "af_local_key"}]})
    with pytest.raises(UserError) as error:
        wanted(env, no_secrets_here(env))
    assert str(error.value) == (
        "environments/envx.yaml: bootstrap.variables[1].secret: Secret Manager references need runtime gke"
    )


def test_the_canary_pool_is_always_first_and_never_declared_twice():
    env = _env("local", {"pools": [{"name": "system_canary", "slots": 5}, {"name": "etl", "slots": 8}]})
    pools = [(item.key, item.body["slots"]) for item in wanted(env, no_secrets_here(env)) if item.kind == "pool"]
    assert pools == [("system_canary", 1), ("etl", 8)]


@pytest.mark.parametrize(
    "bootstrap,message",
    [
        ({"variables": [{"key": "a", "value": "x", "secret": "s"}]},
         "bootstrap.variables[0]: variable 'a': give exactly one of `value` or `secret`"),
        ({"connections": [{"conn_id": "c", "conn_type": "http", "extra": {"api_token": "abc"}}]},
         "bootstrap.connections[0].extra: extra.api_token looks like a secret: keep secrets in Secret Manager (password_secret)"),
        ({"connections": [{"conn_id": "c", "conn_type": "http", "password": "abc"}]},
         "bootstrap.connections[0]: unknown key 'password'"),
        ({"pools": [{"name": "etl", "slots": 1}, {"name": "etl", "slots": 2}]}, "bootstrap.pools: pool declared twice: etl"),
        ({"variables": [{"key": "partner_api_key", "value": "abc"}]},
         "bootstrap.variables[0]: variable 'partner_api_key' looks like a secret: keep its value in Secret Manager (`secret`)"),
    ],
)
def test_bad_bootstrap_sections_are_refused_with_their_key(bootstrap, message):
    with pytest.raises(ConfigError) as error:
        _env("local", bootstrap)
    assert message in str(error.value)


def test_shipped_environments_declare_nothing_secret_in_yaml():
    for name in ("local", "dev", "qa", "prod"):
        env = load_env(name)
        assert all(v.value is None or v.secret is None for v in env.bootstrap.variables), name


def test_gke_bootstrap_needs_no_api_address_and_refuses_one():
    result = _invoke("bootstrap", "prod", "--api-url", "http://127.0.0.1:1", AIRFLOW_API_URL="")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: --api-url applies to the local environment only: GKE environments are reached through the cluster's API"
    )


def test_gke_bootstrap_dry_run_lists_the_steps_and_touches_nothing(tmp_path):
    result = _invoke("bootstrap", "prod", "--dry-run", AIRFLOW_API_URL="", HOME=str(tmp_path),
                     GOOGLE_APPLICATION_CREDENTIALS=str(tmp_path / "none.json"))
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()  # the toolkit's console is stderr
    assert lines[0].strip().startswith("would port-forward to a Ready pod behind Service ")
    assert any("ensure the FAB service user platform-bootstrap" in line for line in lines)
    assert lines[-1].startswith("would sync ") and "nothing read or changed" in lines[-1]


def test_a_rejected_token_is_one_line(airflow_api):
    airflow_api.token = "the-right-token"
    env = load_env("prod")
    from rich.console import Console

    from infra.bootstrap import bootstrap

    with pytest.raises(UserError) as error:
        bootstrap(env, base_url=airflow_api.url, token="wrong", read_secret=no_secrets_here(env),
                  console=Console(file=open(os.devnull, "w")))
    assert str(error.value) == "GET /api/v2/pools/system_canary: HTTP 401: the token may not do this"
