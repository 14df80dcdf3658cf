"""GKE credentials through the real google-cloud-container client, and `status` in one table.

The GKE API and the Airflow API are loopback servers answering with payloads written in the shape of
the real responses (tests/cli/fixtures/gke_cluster_prod.json is a `Cluster` resource of the GKE REST API).
"""

from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone

import pytest
from google.oauth2.credentials import Credentials

from infra import gke
from infra.errors import UserError
from infra.status import collect, status
from tests.cli.helpers import closed_port, console, load_env, output

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


def test_status_of_a_healthy_environment_is_one_table_and_exit_0(project, fake_tools, fake_google, airflow_api, monkeypatch):
    healthy_setup(fake_google, airflow_api)
    monkeypatch.setenv("AIRFLOW_API_URL", airflow_api.url)
    monkeypatch.setenv("AIRFLOW_API_TOKEN", "fixture-api-token")
    con = console()
    assert status(load_env("prod", project), root=project, cluster_api=cluster_api(fake_google), console=con) == 0
    text = output(con)
    for part in ("GKE cluster af-prod-gke", "RUNNING", "1.33.5-gke.1201000", "node pool system-v1", "e2-standard-4, 1–2 nodes per zone",
                 "node pool workers-v1", "Airflow API", "scheduler", "healthy", "canary (system_canary)", "last run 2 min ago (success)"):
        assert part in text
    assert [c["argv"][0] for c in fake_tools.commands("terraform")] == ["init", "output"], "outputs come from the state"


def test_unhealthy_parts_are_rows_and_the_exit_code_is_non_zero(fake_google, airflow_api):
    healthy_setup(fake_google, airflow_api)
    airflow_api.health["scheduler"]["status"] = "unhealthy"
    airflow_api.dag_runs = [{"dag_run_id": "x", "state": "success", "run_after": iso(datetime.now(timezone.utc) - timedelta(minutes=42))}]
    rows = collect(load_env("prod"), outputs=OUTPUTS, cluster_api=cluster_api(fake_google), airflow_url=airflow_api.url, token="fixture-api-token")
    bad = {row.part.strip(): row.state for row in rows if not row.healthy}
    assert bad == {"scheduler": "unhealthy", "canary (system_canary)": "stale"}
    stale = next(row for row in rows if row.state == "stale")
    assert "last run 42 min ago" in stale.detail and "allowed 15 min" in stale.detail


def test_node_pool_still_upgrading_is_not_healthy(fake_google, airflow_api):
    rows = collect(load_env("prod"), outputs=OUTPUTS, cluster_api=cluster_api(fake_google), airflow_url=None, token=None)
    workers = next(row for row in rows if "workers-v1" in row.part)
    assert workers.state == "RECONCILING" and not workers.healthy


def test_unreachable_parts_are_shown_as_such(fake_google, airflow_api):
    url = airflow_api.url
    airflow_api.server.close()
    rows = collect(load_env("prod"), outputs={**OUTPUTS, "cluster_name": "gone"}, cluster_api=cluster_api(fake_google), airflow_url=url, token=None)
    states = {row.part.strip(): row.state for row in rows}
    assert states["GKE cluster gone"] == "unreachable"
    assert states["Airflow API"] == "unreachable"
    assert states["canary (system_canary)"] == "unreachable"
    assert not any(row.healthy for row in rows)


def test_canary_query_without_token_says_how_to_authorize(fake_google, airflow_api):
    healthy_setup(fake_google, airflow_api)
    rows = collect(load_env("prod"), outputs=OUTPUTS, cluster_api=cluster_api(fake_google), airflow_url=airflow_api.url, token=None)
    canary = rows[-1]
    assert canary.state == "unknown" and "HTTP 401" in canary.detail and "set AIRFLOW_API_TOKEN" in canary.detail


def test_status_without_api_address_says_where_to_set_it(fake_google, airflow_api):
    rows = collect(load_env("prod"), outputs=OUTPUTS, cluster_api=cluster_api(fake_google), airflow_url=None, token=None)
    assert rows[-1].part == "Airflow API" and "set AIRFLOW_API_URL" in rows[-1].detail


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
    rows = collect(load_env("prod"), outputs=OUTPUTS, cluster_api=api, airflow_url=None, token=None)
    assert rows[0].state == "unreachable" and rows[0].detail.startswith("cannot reach Google at 127.0.0.1:")
