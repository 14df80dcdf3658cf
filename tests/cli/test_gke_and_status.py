"""GKE credentials through the real google-cloud-container client, and `status` in one table.

The GKE API and the Airflow API are loopback servers answering with payloads written in the shape of
the real responses (tests/cli/fixtures/gke_cluster_prod.json is a `Cluster` resource of the GKE REST API).
"""

from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone

from urllib.parse import urlparse

import pytest
import yaml
from google.oauth2.credentials import Credentials

from infra import gke, naming
from infra.errors import UserError
from infra.status import airflow_rows, collect, status
from tests.cli.helpers import closed_port, console, load_env, output
from tests.kube.fake_kube import FakeKube, pod, service

OUTPUTS = {"project_id": "acme-airflow-prod", "cluster_location": "europe-west1", "cluster_name": "af-prod-gke"}


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def test_credentials_come_from_the_gke_api_and_google_auth(fake_google, tmp_path):
    creds = Credentials(token="fixture-access-token")
    api = gke.GoogleClusterApi(creds, endpoint=fake_google.url)
    cluster, cluster_creds = gke.cluster_credentials(api, creds, "acme-airflow-prod", "europe-west1", "af-prod-gke")

    method, path, request = fake_google.server.requests[-1]
    assert (method, path) == ("GET", "/v1/projects/acme-airflow-prod/locations/europe-west1/clusters/af-prod-gke")
    assert request["auth"] == "Bearer fixture-access-token", "the client authenticates with the google-auth credentials"
    assert cluster["status"] == "RUNNING" and cluster["nodePools"][1]["status"] == "RECONCILING"
    assert cluster_creds.server == "https://34.78.10.20"
    assert base64.b64decode(cluster_creds.ca_data).startswith(b"-----BEGIN CERTIFICATE-----")

    config = gke.kubeconfig(cluster_creds)
    assert config["current-context"] == "gke_acme-airflow-prod_europe-west1_af-prod-gke"
    assert config["users"][0]["user"] == {"exec": gke.exec_plugin()}, "the plugin is installed here"


DNS = "gke-0123456789abcdef0123456789abcdef-123456789012.europe-west1.gke.goog"


def test_kubeconfig_uses_the_dns_endpoint_without_a_ca(fake_google, tmp_path):
    fake_google.cluster["controlPlaneEndpointsConfig"] = {
        "dnsEndpointConfig": {"endpoint": DNS, "allowExternalTraffic": True},
        "ipEndpointsConfig": {"enabled": True, "publicEndpoint": "34.78.10.20", "privateEndpoint": "172.16.0.34"},
    }
    creds = Credentials(token="t")
    _, cluster_creds = gke.cluster_credentials(gke.GoogleClusterApi(creds, endpoint=fake_google.url), creds,
                                               "acme-airflow-prod", "europe-west1", "af-prod-gke")
    path = gke.write_kubeconfig(gke.kubeconfig(cluster_creds), tmp_path / "kube.yaml")
    written = yaml.safe_load(path.read_text())["clusters"][0]["cluster"]
    assert written == {"server": f"https://{DNS}"}, "a Google-issued certificate: no CA, never insecure-skip-tls-verify"

    from kubernetes import config  # the client the toolkit uses checks it against the public roots

    client = config.new_client_from_config(config_file=str(path), persist_config=False)
    assert client.configuration.host == f"https://{DNS}" and client.configuration.verify_ssl
    client.close()


def test_a_dns_endpoint_closed_to_external_traffic_is_not_used(fake_google):
    fake_google.cluster["controlPlaneEndpointsConfig"] = {"dnsEndpointConfig": {"endpoint": DNS, "allowExternalTraffic": False}}
    creds = gke.credentials_for(fake_google.cluster, "ctx")
    assert creds.server == "https://34.78.10.20" and creds.ca_data


def test_bootstrap_kubeconfig_is_written_fresh_from_the_outputs_and_the_gke_api(fake_google, tmp_path):
    fake_google.cluster["controlPlaneEndpointsConfig"] = {"dnsEndpointConfig": {"endpoint": DNS, "allowExternalTraffic": True}}
    path = gke.environment_kubeconfig("prod", OUTPUTS, root=tmp_path, cluster_api=cluster_api(fake_google))
    assert path == tmp_path / "cdktf.out" / "kube" / "prod.yaml" and path.stat().st_mode & 0o777 == 0o600
    assert yaml.safe_load(path.read_text())["clusters"][0]["cluster"]["server"] == f"https://{DNS}"
    with pytest.raises(UserError, match=r"^no terraform output cluster_name for prod: has it been deployed \(invoke deploy prod\)\?$"):
        gke.environment_kubeconfig("prod", {**OUTPUTS, "cluster_name": ""}, root=tmp_path, cluster_api=cluster_api(fake_google))


def test_missing_cluster_is_a_clear_error(fake_google):
    creds = Credentials(token="fixture-access-token")
    api = gke.GoogleClusterApi(creds, endpoint=fake_google.url)
    with pytest.raises(UserError, match="GKE cluster projects/p-1/locations/europe-west1/clusters/gone does not exist"):
        api.get_cluster(gke.cluster_path("p-1", "europe-west1", "gone"))


def test_cluster_without_endpoint_yet_is_a_clear_error(fake_google):
    fake_google.cluster.pop("endpoint")
    fake_google.cluster["status"] = "PROVISIONING"
    creds = Credentials(token="t")
    with pytest.raises(UserError, match="has no endpoint or CA certificate yet \\(status PROVISIONING\\)"):
        gke.cluster_credentials(gke.GoogleClusterApi(creds, endpoint=fake_google.url), creds, "acme-airflow-prod", "europe-west1", "af-prod-gke")


def cluster_api(fake_google):
    return gke.GoogleClusterApi(Credentials(token="t"), endpoint=fake_google.url)


def healthy_setup(fake_google, airflow_api):
    for pool in fake_google.cluster["nodePools"]:
        pool["status"] = "RUNNING"
    airflow_api.dag_runs = [
        {"dag_run_id": f"scheduled__{i}", "dag_id": "system_canary", "state": "success", "run_after": iso(datetime.now(timezone.utc) - timedelta(minutes=m))}
        for i, m in enumerate((17, 12, 2))
    ]


@pytest.fixture
def kube_cluster(airflow_api, tmp_path):
    """A fake Kubernetes API whose API server pod is the fake Airflow API; the pod mints `fixture-api-token`."""
    env = load_env("prod")
    answer = lambda command: (0, b"user unchanged\ntoken fixture-api-token\n", b"")  # noqa: E731
    fake = FakeKube(token="fixture-k8s-token", upstream=urlparse(airflow_api.url).port, exec_answer=answer)
    ns = naming.namespace(env)
    fake.services[(ns, naming.API_SERVER_SERVICE)] = service(ns, naming.API_SERVER_SERVICE)
    fake.pods.append(pod(ns, "airflow-api-server-0"))
    path = tmp_path / "kubeconfig.yaml"
    path.write_text(yaml.safe_dump(fake.kubeconfig()))
    yield fake, path
    fake.close()


def test_status_of_a_healthy_environment_is_one_table_and_exit_0(project, fake_tools, fake_google, airflow_api, kube_cluster, monkeypatch):
    healthy_setup(fake_google, airflow_api)
    monkeypatch.delenv("AIRFLOW_API_URL", raising=False)
    monkeypatch.delenv("AIRFLOW_API_TOKEN", raising=False)
    fake, path = kube_cluster
    con = console()
    assert status(load_env("prod", project), root=project, cluster_api=cluster_api(fake_google), console=con, kubeconfig=path) == 0
    text = output(con)
    for part in ("GKE cluster af-prod-gke", "RUNNING", "1.33.5-gke.1201000", "node pool system-v1", "e2-standard-4, 1–2 nodes per zone",
                 "node pool workers-v1", "Airflow API", "scheduler", "healthy", "canary (system_canary)", "last run 2 min ago (success)"):
        assert part in text
    assert [c["argv"][0] for c in fake_tools.commands("terraform")] == ["init", "output"], "outputs come from the state"
    assert fake.forwards and fake.execs, "Airflow was reached through a port-forward, with a token minted in the pod"


def test_status_reaches_airflow_through_the_cluster_without_any_address(fake_google, airflow_api, kube_cluster):
    healthy_setup(fake_google, airflow_api)
    _, path = kube_cluster
    rows = collect(load_env("prod"), outputs=OUTPUTS, cluster_api=cluster_api(fake_google), kubeconfig=path)
    states = {row.part.strip(): row.state for row in rows}
    assert states["Airflow API"] == "reachable" and states["canary (system_canary)"] == "fresh"
    assert airflow_api.server.requests[-1][2]["auth"] == "Bearer fixture-api-token", "the token minted in the pod"


def test_unhealthy_parts_are_rows_and_the_exit_code_is_non_zero(fake_google, airflow_api):
    healthy_setup(fake_google, airflow_api)
    airflow_api.health["scheduler"]["status"] = "unhealthy"
    airflow_api.dag_runs = [{"dag_run_id": "x", "state": "success", "run_after": iso(datetime.now(timezone.utc) - timedelta(minutes=42))}]
    rows = airflow_rows(load_env("prod"), airflow_api.url, "fixture-api-token")
    bad = {row.part.strip(): row.state for row in rows if not row.healthy}
    assert bad == {"scheduler": "unhealthy", "canary (system_canary)": "stale"}
    stale = next(row for row in rows if row.state == "stale")
    assert "last run 42 min ago" in stale.detail and "allowed 15 min" in stale.detail


def test_node_pool_still_upgrading_is_not_healthy(fake_google, tmp_path):
    rows = collect(load_env("prod"), outputs=OUTPUTS, cluster_api=cluster_api(fake_google), kubeconfig=_closed_kubeconfig(tmp_path))
    workers = next(row for row in rows if "workers-v1" in row.part)
    assert workers.state == "RECONCILING" and not workers.healthy


def _closed_kubeconfig(tmp_path):
    path = tmp_path / "closed.yaml"
    config = {"apiVersion": "v1", "kind": "Config", "current-context": "c",
              "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{closed_port()}"}}],
              "users": [{"name": "c", "user": {"token": "t"}}], "contexts": [{"name": "c", "context": {"cluster": "c", "user": "c"}}]}
    path.write_text(yaml.safe_dump(config))
    return path


def test_unreachable_parts_are_shown_as_such(fake_google, airflow_api, tmp_path):
    rows = collect(load_env("prod"), outputs={**OUTPUTS, "cluster_name": "gone"}, cluster_api=cluster_api(fake_google), kubeconfig=None)
    states = {row.part.strip(): row.state for row in rows}
    assert states == {"GKE cluster gone": "unreachable", "Airflow API": "unknown"}

    rows = collect(load_env("prod"), outputs=OUTPUTS, cluster_api=cluster_api(fake_google), kubeconfig=_closed_kubeconfig(tmp_path))
    api = next(row for row in rows if row.part == "Airflow API")
    assert api.state == "unreachable" and api.detail.startswith("Kubernetes API server at http://127.0.0.1:")

    url = airflow_api.url
    airflow_api.server.close()
    states = {row.part.strip(): row.state for row in airflow_rows(load_env("prod"), url, None)}
    assert states == {"Airflow API": "unreachable", "canary (system_canary)": "unreachable"}


def test_a_refused_canary_token_is_a_row_saying_so(fake_google, airflow_api):
    healthy_setup(fake_google, airflow_api)
    canary = airflow_rows(load_env("prod"), airflow_api.url, "not-the-token")[-1]
    assert canary.state == "unknown" and "HTTP 401" in canary.detail and "refused the token" in canary.detail


def test_status_writes_a_kubeconfig_for_the_dns_endpoint(fake_google, tmp_path, monkeypatch):
    fake_google.cluster["controlPlaneEndpointsConfig"] = {
        "dnsEndpointConfig": {"endpoint": f"127.0.0.1:{closed_port()}", "allowExternalTraffic": True}}
    rows = collect(load_env("prod"), outputs=OUTPUTS, cluster_api=cluster_api(fake_google), kubeconfig=None, root=tmp_path)
    written = yaml.safe_load((tmp_path / "cdktf.out" / "kube" / "prod.yaml").read_text())
    assert written["clusters"][0]["cluster"]["server"].startswith("https://127.0.0.1:")
    assert rows[-1].part == "Airflow API" and rows[-1].state == "unreachable"


def test_an_unreachable_gke_api_is_one_line_at_the_cli_guard():
    from invoke.exceptions import Exit

    from infra import cli

    port = closed_port()
    api = gke.GoogleClusterApi(Credentials(token="t"), endpoint=f"http://127.0.0.1:{port}")
    with pytest.raises(Exit) as stopped:
        cli.guarded(api.get_cluster, gke.cluster_path("acme-airflow-prod", "europe-west1", "af-prod-gke"))
    assert stopped.value.message == (
        f"error: cannot reach Google at 127.0.0.1:{port} ([Errno 111] Connection refused): "
        "check the network, the proxy (HTTPS_PROXY) and the firewall, then run the command again"
    )
    assert stopped.value.code == 1


def test_an_unreachable_gke_api_is_a_status_row_saying_so():
    api = gke.GoogleClusterApi(Credentials(token="t"), endpoint=f"http://127.0.0.1:{closed_port()}")
    rows = collect(load_env("prod"), outputs=OUTPUTS, cluster_api=api, kubeconfig=None)
    assert rows[0].state == "unreachable" and rows[0].detail.startswith("cannot reach Google at 127.0.0.1:")
