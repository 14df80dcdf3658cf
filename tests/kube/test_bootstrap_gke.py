"""The GKE bootstrap end to end: a fake Kubernetes API in front of a real FAB-backed `airflow api-server`.

The fake (tests/kube/fake_kube.py) forwards the pod's port to the real API server of tests/gke/test_signin.py
(FAB auth manager, the generated Google sign-in webserver_config.py, PostgreSQL) and runs exec commands with
that server's own environment, as `kubectl exec` runs them in its container. So infra/fab_token.py really
creates the service user and mints a JWT the API server accepts, and the sync goes through the tunnel.
"""

from __future__ import annotations

import base64
import json
import threading
import urllib.parse

import pytest
import yaml

from infra import naming
from infra.bootstrap import bootstrap_gke, no_secrets_here
from infra.config import parse_environment
from tests.cli.helpers import console, output
from tests.gke.test_signin import GCP, _roles, api_server, oidc  # noqa: F401 - fixtures reused
from tests.kube.fake_kube import FakeKube, pod, service

pytestmark = pytest.mark.integration


def _environment():
    data = {
        "runtime": "gke", "gcp": GCP, "signin": {"admin": ["alice@acme.example"]},
        "bootstrap": {"pools": [{"name": "etl", "slots": 4}], "variables": [{"key": "greeting", "value": "hello"}],
                      "ready_timeout_minutes": 2},
    }
    return parse_environment("bootstrapgke", data, "environments/bootstrapgke.yaml")


@pytest.fixture
def cluster(api_server, tmp_path):  # noqa: F811 - the fixture imported above
    uri = api_server.uri
    port = urllib.parse.urlparse(api_server.base).port
    env = _environment()
    fake = FakeKube(token="fixture-k8s-token", upstream=port, exec_env=api_server.env)
    ns = naming.namespace(env)
    fake.services[(ns, naming.API_SERVER_SERVICE)] = service(ns, naming.API_SERVER_SERVICE)
    fake.pods.append(pod(ns, "airflow-api-server-0"))
    path = tmp_path / "kubeconfig.yaml"
    path.write_text(yaml.safe_dump(fake.kubeconfig()))
    yield env, fake, path, uri
    fake.close()


def _claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_gke_bootstrap_creates_a_service_user_then_syncs_and_a_second_run_changes_nothing(cluster):
    env, fake, path, uri = cluster
    before = set(threading.enumerate())

    first = console()
    summary = bootstrap_gke(env, kubeconfig=path, console=first, secrets=no_secrets_here(env), wait_for_canary=False)
    text = output(first)
    assert f"created service user {naming.BOOTSTRAP_USER}" in text
    assert "created pool etl" in text and "created variable greeting" in text
    assert summary.startswith("3 of 3 objects changed")
    assert _roles(uri, naming.BOOTSTRAP_USER) == {"Admin"}
    command = fake.execs[0]
    assert command[:2] == ["python", "-c"] and command[3] == naming.BOOTSTRAP_USER
    assert fake.forwards, "the REST calls went through the port-forward"

    second = console()
    again = bootstrap_gke(env, kubeconfig=path, console=second, secrets=no_secrets_here(env), wait_for_canary=False)
    assert again == "nothing changed (3 objects already as declared)"
    assert "service user" not in output(second), "the existing user is left as it is"
    assert "eyJ" not in output(first) + output(second), "the token is never printed"
    assert {t for t in threading.enumerate() if t not in before and t.is_alive() and not t.daemon} == set()


def test_the_minted_token_names_the_fab_user_id(cluster):
    env, _, path, uri = cluster
    from infra import kube
    from infra.bootstrap import mint_token

    client = kube.Cluster(path)
    try:
        target = kube.api_server_pod(client, env)
        token, action = mint_token(client, target, seconds=120)
        _, again = mint_token(client, target, seconds=120)
    finally:
        client.close()
    import psycopg2

    conn = psycopg2.connect(uri.replace("postgresql+psycopg2://", "postgresql://"))
    with conn.cursor() as cur:
        cur.execute("SELECT id FROM ab_user WHERE username = %s", (naming.BOOTSTRAP_USER,))
        (user_id,) = cur.fetchone()
    conn.close()
    claims = _claims(token)
    assert (action, again) == ("created", "unchanged")
    assert claims["sub"] == str(user_id), "FAB's deserialize_user reads the numeric user id from sub"
    assert 0 < claims["exp"] - claims["iat"] <= 120


def test_dry_run_touches_nothing(tmp_path):
    env = _environment()
    fake = FakeKube(token="fixture-k8s-token", upstream=1)
    try:
        path = tmp_path / "kubeconfig.yaml"
        path.write_text(yaml.safe_dump(fake.kubeconfig()))
        out = console()
        summary = bootstrap_gke(env, kubeconfig=path, console=out, dry_run=True)
    finally:
        fake.close()
    assert summary == f"would sync 3 declared objects as {naming.BOOTSTRAP_USER} (dry run: nothing read or changed)"
    assert "would create or update pools: system_canary, etl" in output(out)
    assert fake.execs == [] and fake.forwards == []


def test_a_failing_token_script_is_one_line(tmp_path):
    env = _environment()
    fake = FakeKube(token="fixture-k8s-token", upstream=1, exec_env={"PATH": "/usr/bin:/bin"})  # no Airflow config
    ns = naming.namespace(env)
    fake.services[(ns, naming.API_SERVER_SERVICE)] = service(ns, naming.API_SERVER_SERVICE)
    fake.pods.append(pod(ns, "airflow-api-server-0"))
    from infra import kube
    from infra.bootstrap import mint_token
    from infra.errors import UserError

    path = tmp_path / "kubeconfig.yaml"
    path.write_text(yaml.safe_dump(fake.kubeconfig()))
    client = kube.Cluster(path)
    try:
        with pytest.raises(UserError, match=r"^minting the bootstrap token in pod \S+/airflow-api-server-0 failed: \S") as err:
            mint_token(client, kube.api_server_pod(client, env), seconds=60)
    finally:
        client.close()
        fake.close()
    assert "\n" not in str(err.value)
