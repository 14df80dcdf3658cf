"""Google sign-in as the real chart renders it: the API server mounts the generated webserver_config.py
where FAB reads it, gets the OAuth client from the k8s/ program's Secrets, and trusts only Google's
front ends for the forwarded scheme that makes the OAuth redirect URI https://<ui.host>/..."""

from __future__ import annotations

import pytest

from infra import naming, signin
from infra.airflow_config import FAB_AUTH, GOOGLE_FRONT_ENDS
from tests.k8s.kit import Manifests

pytestmark = pytest.mark.integration

API_SERVER = "airflow-api-server"


def _env_vars(container: dict) -> dict[str, dict]:
    return {var["name"]: var for var in container.get("env") or []}


def test_the_api_server_mounts_the_generated_webserver_config_where_fab_reads_it(manifests: Manifests):
    pod = manifests.get("Deployment", API_SERVER)["spec"]["template"]["spec"]
    container = manifests.container(API_SERVER, "api-server")
    home = _env_vars(container)["AIRFLOW_HOME"]["value"]
    fab = manifests.airflow_cfg()["fab"] if manifests.airflow_cfg().has_section("fab") else {}
    path = fab.get("config_file", f"{home}/webserver_config.py")  # FAB's default: {AIRFLOW_HOME}/webserver_config.py
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == path]
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    config_map = manifests.get("ConfigMap", volume["configMap"]["name"])
    # The chart writes the file as a `|-` block, which drops the final newline and nothing else.
    assert config_map["data"][mount["subPath"]] == signin.webserver_config(manifests.env).removesuffix("\n")


def test_the_api_server_reads_the_oauth_client_from_the_secrets_the_k8s_program_creates(manifests: Manifests):
    variables = _env_vars(manifests.container(API_SERVER, "api-server"))
    client_id, client_secret = naming.oauth_kubernetes_secrets(manifests.env)
    for name, secret in ((signin.CLIENT_ID_ENV, client_id), (signin.CLIENT_SECRET_ENV, client_secret)):
        assert name in variables, f"{manifests.env.name}: the API server has no {name}, webserver_config.py needs it"
        assert variables[name]["valueFrom"] == {"secretKeyRef": {"name": secret, "key": naming.OAUTH_SECRET_KEY}}, name


def test_every_gke_environment_signs_in_with_fab_and_has_no_password_anywhere(manifests: Manifests):
    cfg = manifests.airflow_cfg()
    assert cfg["core"]["auth_manager"] == FAB_AUTH
    assert not [key for key in cfg["core"] if key.startswith("simple_auth_manager")]
    text = "".join(manifests.folder.joinpath(p.name).read_text() for p in manifests.folder.glob("*.yaml"))
    assert "SimpleAuthManager" not in text and "createUser" not in text
    for where, spec in manifests.pod_specs().items():  # no container creates a user with a password
        for container in (spec.get("containers") or []) + (spec.get("initContainers") or []):
            command = " ".join([*(container.get("command") or []), *(container.get("args") or [])])
            assert "users create" not in command, where


def test_forwarded_headers_are_trusted_from_googles_front_ends_only(manifests: Manifests):
    container = manifests.container(API_SERVER, "api-server")
    assert "--proxy-headers" in container["args"]
    trusted = _env_vars(container)["FORWARDED_ALLOW_IPS"]["value"].split(",")
    assert trusted == list(GOOGLE_FRONT_ENDS)
    policy = manifests.get("NetworkPolicy", "airflow-api-server-policy")
    admitted = {peer["ipBlock"]["cidr"] for rule in policy["spec"]["ingress"] for peer in rule["from"] if "ipBlock" in peer}
    assert set(trusted) == admitted  # the only addresses outside the cluster that reach the pod at all


def test_links_and_redirects_name_the_public_host_and_internal_only_has_none(rendered):
    assert rendered["prod"].airflow_cfg()["api"]["base_url"] == f"https://{rendered['prod'].env.airflow.ui.host}/"
    assert rendered["qa"].env.airflow.ui.host is None
    qa = rendered["qa"].airflow_cfg()
    assert not qa.has_section("api") or "base_url" not in qa["api"]


def test_every_component_loads_the_local_settings_hook_that_keeps_probe_lines_out_of_the_log(manifests: Manifests):
    # The same file the local runtime imports from the DAGs folder; Airflow imports it from $AIRFLOW_HOME/config.
    from infra.chart_values import LOCAL_SETTINGS

    for deployment in ("airflow-scheduler", "airflow-dag-processor", "airflow-api-server"):
        pod = manifests.get("Deployment", deployment)["spec"]["template"]["spec"]
        container = pod["containers"][0]
        home = _env_vars(container)["AIRFLOW_HOME"]["value"]
        mounts = [m for m in container["volumeMounts"] if m["mountPath"] == f"{home}/config/airflow_local_settings.py"]
        assert mounts, f"{manifests.env.name}: {deployment} does not mount airflow_local_settings.py"
        (volume,) = [v for v in pod["volumes"] if v["name"] == mounts[0]["name"]]
        data = manifests.get("ConfigMap", volume["configMap"]["name"])["data"][mounts[0]["subPath"]]
        assert data == LOCAL_SETTINGS.read_text().removesuffix("\n")
