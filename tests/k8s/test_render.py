"""The real chart, rendered by the real helm from the builder's values: what lands on the cluster."""

from __future__ import annotations

import re

import pytest
import yaml

from infra import naming
from infra.airflow_config import build
from infra.config import parse_environment
from infra.errors import UserError
from tests.k8s.kit import ROOT, Manifests, render_into, require_helm_and_chart

pytestmark = pytest.mark.integration

DEPLOYMENTS = {"airflow-api-server": "api_server", "airflow-scheduler": "scheduler",
               "airflow-dag-processor": "dag_processor", "airflow-triggerer": "triggerer"}
SENSITIVE_ENV = re.compile(r"FERNET|SECRET|PASSWORD|SQL_ALCHEMY_CONN|AIRFLOW_CONN_|BROKER_URL|RESULT_BACKEND|JWT|TOKEN")


def test_scheduler_liveness_and_startup_probes_are_the_builders(manifests: Manifests):
    component = build(manifests.env).component("scheduler")
    container = manifests.container("airflow-scheduler", "scheduler")
    for kind, probe in (("livenessProbe", component.liveness), ("startupProbe", component.startup)):
        assert container[kind]["exec"]["command"] == list(probe.action.command), kind
        assert {k: container[kind][k] for k in probe.timings()} == probe.timings(), kind
    # Kubernetes allows one liveness probe per container: it is the only one, an exec command.
    assert set(container["livenessProbe"]) - set(component.liveness.timings()) == {"exec"}


def test_api_server_is_probed_on_the_health_endpoint_with_the_builders_timings(manifests: Manifests):
    container = manifests.container("airflow-api-server", "api-server")
    component = build(manifests.env).component("api-server")
    for kind, probe in (("livenessProbe", component.liveness), ("readinessProbe", component.readiness),
                        ("startupProbe", component.startup)):
        assert container[kind]["httpGet"]["path"] == "/api/v2/monitor/health", kind
        assert {k: container[kind][k] for k in probe.timings()} == probe.timings(), kind


def test_every_pod_runs_as_the_workload_identity_service_account(manifests: Manifests):
    pods = manifests.pod_specs()
    assert "task pod template" in pods and "Deployment/airflow-scheduler" in pods
    for where, spec in pods.items():
        assert spec.get("serviceAccountName") == naming.KUBERNETES_SERVICE_ACCOUNT, where
    assert manifests.of_kind("ServiceAccount") == {}  # the k8s/ program creates it, annotated


def test_executor_and_replicas_follow_the_environment(manifests: Manifests):
    env = manifests.env
    assert manifests.airflow_cfg()["core"]["executor"] == "KubernetesExecutor"
    for deployment, key in DEPLOYMENTS.items():
        assert manifests.get("Deployment", deployment)["spec"]["replicas"] == getattr(env.airflow.replicas, key), deployment


def test_prod_components_have_disruption_budgets_and_single_replica_ones_do_not(rendered):
    prod = {pdb["spec"]["selector"]["matchLabels"]["component"] for pdb in rendered["prod"].of_kind("PodDisruptionBudget").values()}
    assert prod == {"api-server", "scheduler", "dag-processor", "triggerer"}
    assert rendered["dev"].of_kind("PodDisruptionBudget") == {}  # one replica: a budget would block node drains


def test_task_logs_go_to_the_environments_bucket(manifests: Manifests):
    logging = manifests.airflow_cfg()["logging"]
    assert logging["remote_logging"] == "True"
    assert logging["remote_base_log_folder"].startswith(f"gs://{manifests.env.gcp.project_id}-af-{manifests.env.name}-task-logs/")


def test_no_hook_no_job_and_no_secret_is_rendered(manifests: Manifests):
    for obj in manifests.objects:
        assert not any(a.startswith("helm.sh/hook") for a in obj["metadata"].get("annotations") or {}), obj["metadata"]["name"]
    kinds = {o["kind"] for o in manifests.objects}
    assert not kinds & {"Job", "Secret", "CronJob"}


def test_no_secret_value_anywhere_in_the_manifests(manifests: Manifests):
    for where, spec in manifests.pod_specs().items():
        for container in (spec.get("containers") or []) + (spec.get("initContainers") or []):
            for var in container.get("env") or []:
                if SENSITIVE_ENV.search(var["name"]):
                    assert "value" not in var and "secretKeyRef" in var["valueFrom"], f"{where}: {var['name']}"
    cfg = manifests.airflow_cfg()
    for section in cfg.sections():
        for key in cfg[section]:
            assert not re.search(r"fernet_key|secret_key|jwt_secret|password$|sql_alchemy_conn", key), f"[{section}] {key}"


def test_every_namespaced_object_is_in_the_environments_namespace(manifests: Manifests):
    assert {o["metadata"].get("namespace") for o in manifests.objects} == {manifests.env.airflow.namespace}


def test_rendering_twice_gives_identical_bytes(rendered, tmp_path):
    again = render_into(["prod"], tmp_path)["prod"]
    first = {p.name: p.read_bytes() for p in rendered["prod"].folder.glob("*.yaml")}
    assert {p.name: p.read_bytes() for p in again.folder.glob("*.yaml")} == first
    assert b"/work/" not in b"".join(first.values())  # nothing from this machine leaks into the manifests


def _celery_env(tmp_path):
    data = yaml.safe_load((ROOT / "environments" / "prod.yaml").read_text())
    data["airflow"]["executor"] = "CeleryExecutor"
    data["airflow"]["replicas"]["workers"] = 3
    return parse_environment("prod", data, "prod.yaml")


def test_celery_executor_takes_the_broker_secrets_by_name_and_renders_nothing_random(tmp_path, monkeypatch):
    require_helm_and_chart()
    env = _celery_env(tmp_path)
    monkeypatch.setattr("tests.k8s.kit.load_environment", lambda name: env)
    celery = render_into(["prod"], tmp_path)["prod"]
    assert celery.airflow_cfg()["core"]["executor"] == "CeleryExecutor"
    workers = celery.get("StatefulSet", "airflow-worker")
    assert workers["spec"]["replicas"] == 3
    refs = {v["valueFrom"]["secretKeyRef"]["name"] for spec in [workers["spec"]["template"]["spec"]]
            for c in spec["containers"] for v in c.get("env") or [] if "valueFrom" in v and "secretKeyRef" in v["valueFrom"]}
    assert {"af-prod-redis-password", "af-prod-celery-broker-url"} <= refs | {
        v["valueFrom"]["secretKeyRef"]["name"] for c in celery.get("StatefulSet", "airflow-redis")["spec"]["template"]["spec"]["containers"]
        for v in c.get("env") or [] if "secretKeyRef" in v.get("valueFrom", {})}
    assert "Secret" not in {o["kind"] for o in celery.objects}


def test_a_chart_package_that_is_not_the_pinned_one_is_refused(tmp_path, monkeypatch):
    require_helm_and_chart()
    tampered = tmp_path / "airflow-1.22.0.tgz"
    tampered.write_bytes(b"not the chart")
    monkeypatch.setenv("AIRFLOW_CHART_TGZ", str(tampered))
    from infra.config import load_environment
    from infra.k8s_render import manifests

    with pytest.raises(UserError, match="sha256 .* is not the pinned"):
        manifests(load_environment("dev"))


def test_the_charts_schema_judges_the_values_and_a_typo_is_one_line(monkeypatch):
    require_helm_and_chart()
    from infra import chart_values as renderer
    from infra import k8s_render
    from infra.config import load_environment

    real = renderer.chart_values

    def with_typo(env, settings=None):
        values = real(env, settings)
        values["scheduler"]["livenessProbee"] = values["scheduler"].pop("livenessProbe")
        return values

    monkeypatch.setattr(k8s_render, "chart_values", with_typo)
    with pytest.raises(UserError) as caught:
        k8s_render.manifests(load_environment("dev"))
    message = str(caught.value)
    assert message.startswith("helm template failed: ") and "\n" not in message
    assert "additional properties 'livenessProbee' not allowed" in message
