"""One configuration, two renderers: the chart's airflow.cfg says what the local renderer's variables say.

For the same environment model, every setting the local renderer (AIRFLOW__SECTION__KEY) produces
must appear in the rendered ConfigMap's airflow.cfg with the same value. The only differences allowed
are listed below, each with its reason; a new difference fails until someone writes one down.
"""

from __future__ import annotations

import json

import pytest

from infra.airflow_config import build, env_key, render_env
from tests.k8s.kit import Manifests

pytestmark = pytest.mark.integration

# Sections only the chart writes: defaults for features this platform leaves off.
CHART_ONLY_SECTIONS = {
    "celery": "Celery defaults the chart always writes; unused with KubernetesExecutor",
    "celery_kubernetes_executor": "the chart's default for a hybrid executor the platform does not offer",
    "elasticsearch": "log shipping the platform does not use (task logs go to GCS)",
    "elasticsearch_configs": "as elasticsearch",
    "kerberos": "the chart's placeholders; kerberos is not enabled",
    "metrics": "statsd/otel switches the chart derives from its own (disabled) statsd and otel values",
    "traces": "as metrics",
}
# Single options that differ, and why.
ALLOWED = {
    ("core", "execution_api_server_url"): "the chart points workers at its API server Service; locally it is loopback",
    ("kubernetes_executor", "namespace"): "the chart sets the release namespace (= airflow.namespace)",
    ("kubernetes_executor", "pod_template_file"): "the chart mounts the task pod template it renders",
    ("kubernetes_executor", "worker_container_repository"): "the chart's image value (the platform image)",
    ("kubernetes_executor", "worker_container_tag"): "the chart's image value (the platform image)",
    ("kubernetes_executor", "multi_namespace_mode"): "the chart's default (off: one namespace)",
    ("scheduler", "standalone_dag_processor"): "the chart's flag for Airflow 3, where the DAG processor always runs apart",
    ("fab", "enable_proxy_fix"): "behind GKE's load balancer the forwarded headers are trusted",
    ("webserver", "enable_proxy_fix"): "as fab.enable_proxy_fix",
}
# Options that reach the pods from Kubernetes Secrets (secretKeyRef), never through airflow.cfg.
FROM_SECRETS = {("core", "fernet_key"), ("api", "secret_key"), ("api_auth", "jwt_secret")}


def _local_renderer(env) -> dict[tuple[str, str], str]:
    settings = build(env)
    secrets = {name: "<from the secret store>" for name in settings.secrets.values()}
    variables = render_env(settings, secrets, home="/unused")
    options = {}
    for (section, key) in {*settings.config, *settings.secrets}:
        options[section, key] = variables[env_key(section, key)]
    return options


def test_chart_airflow_cfg_equals_the_local_renderers_settings_but_for_the_allowed_differences(manifests: Manifests):
    cfg = manifests.airflow_cfg()
    rendered = {(section, key): value for section in cfg.sections() for key, value in cfg[section].items()}
    local = _local_renderer(manifests.env)
    unexplained = []
    for option in sorted(set(rendered) | set(local)):
        mine, chart = local.get(option), rendered.get(option)
        if option == ("dag_processor", "dag_bundle_config_list"):
            mine, chart = json.loads(mine), json.loads(chart)  # the chart re-serializes the same list
        if mine == chart or option in ALLOWED or option in FROM_SECRETS and chart is None:
            continue
        if mine is None and option[0] in CHART_ONLY_SECTIONS:
            continue
        unexplained.append(f"[{option[0]}] {option[1]}: local {mine!r}, chart {chart!r}")
    assert unexplained == [], "differences without a reason:\n" + "\n".join(unexplained)


def test_every_allowed_difference_still_exists(rendered):
    """A reason for a difference that is gone is stale: remove it."""
    seen = set()
    for manifests in rendered.values():
        cfg = manifests.airflow_cfg()
        local = _local_renderer(manifests.env)
        seen |= {(s, k) for s in cfg.sections() for k in cfg[s] if local.get((s, k)) != cfg[s][k]}
    assert set(ALLOWED) <= seen
    assert set(CHART_ONLY_SECTIONS) <= {section for section, _ in seen}
