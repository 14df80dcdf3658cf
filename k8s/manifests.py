"""The objects the program owns besides the chart's, as plain Kubernetes manifests (dicts).

One builder per object of `infra.cluster_resources.prerequisites`, plus the UI's ingress objects.
Secret values arrive as `pulumi.Output.secret` values and are placed, never printed or transformed.
"""

from __future__ import annotations

import shlex
from typing import Any

from infra import naming, stats
from infra.airflow_config import GKE_SCRATCH, build, env_key
from infra.chart_values import CONTAINER_SECURITY, POD_SECURITY, image
from infra.cluster_resources import METADATA_SECRET_KEY, airflow_secrets
from infra.config import Environment

# Pinned: a proxy upgrade is a reviewed change like any other image.
PROXY_IMAGE = "gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.18.2"
PROXY_HTTP_PORT = 9090  # the proxy's default --http-port: /startup, /liveness, /readiness
PROXY_UID = 65532  # the proxy image's `nonroot` user
PROXY_RESOURCES = {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}}
MIGRATE_RESOURCES = {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "2Gi"}}
GRANTS_ENV = "STATS_READ_ONLY_GRANTS"
# Through Airflow's own engine, as the Airflow IAM user that owns the tables (so it may grant on them).
GRANTS_PY = (
    "import os\n"
    "from sqlalchemy import text\n"
    "from airflow.utils.session import create_session\n"
    "with create_session() as session:\n"
    f"    session.execute(text(os.environ[{GRANTS_ENV!r}]))\n"
)
# The chart's airflow.cfg ConfigMap is applied after the Job: the Job gets these sections as variables
# ([core] names the auth manager, whose tables FAB's DB manager migrates too).
MIGRATION_SECTIONS = ("core", "database")


def _labels(component: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": component, "app.kubernetes.io/part-of": "airflow", "app.kubernetes.io/managed-by": "pulumi"}


def _meta(env: Environment, name: str, component: str, **extra: Any) -> dict:
    return {"name": name, "namespace": naming.namespace(env), "labels": _labels(component), **extra}


def namespace(env: Environment) -> dict:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": naming.namespace(env), "labels": _labels("airflow")}}


def service_account(env: Environment, name: str, google_account: str) -> dict:
    """A Kubernetes service account that acts as `google_account` through Workload Identity."""
    annotations = {"iam.gke.io/gcp-service-account": google_account}
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(env, name, name, annotations=annotations)}


def secret(env: Environment, name: str, key: str, value: Any) -> dict:
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "metadata": _meta(env, name, "airflow"), "stringData": {key: value}}


def secrets(env: Environment, read_secret) -> list[dict]:
    """Each Secret Manager value, read now (deploy time), as a Kubernetes Secret; then the metadata connection."""
    import pulumi

    out = [secret(env, name, key, pulumi.Output.secret(read_secret(secret_id))) for secret_id, name, key in airflow_secrets(env)]
    # No password in it (IAM login through the proxy), held as a secret all the same: it is a Secret.
    url = pulumi.Output.secret(naming.metadata_connection_url(env))
    out.append(secret(env, naming.metadata_secret_name(env), METADATA_SECRET_KEY, url))
    return out


def proxy_args(connection_name: str) -> list[str]:
    """Private IP only, IAM database login for whoever the pod runs as: no password exists anywhere."""
    return [
        "--private-ip",
        "--auto-iam-authn",
        f"--port={naming.CLOUD_SQL_PROXY_PORT}",
        "--address=0.0.0.0",  # reached through its Service by every Airflow pod
        "--health-check",
        "--http-address=0.0.0.0",  # the kubelet probes the health endpoints from outside the pod
        f"--http-port={PROXY_HTTP_PORT}",
        "--structured-logs",
        connection_name,
    ]


def _probe(path: str, period: int, failures: int) -> dict:
    return {"httpGet": {"path": path, "port": PROXY_HTTP_PORT}, "periodSeconds": period, "timeoutSeconds": 5, "failureThreshold": failures}


def proxy_deployment(env: Environment, connection_name: str) -> dict:
    name = naming.cloud_sql_proxy_service(env)
    # Two proxies once the API server runs two replicas: a node drain must not cut every connection.
    replicas = 2 if env.airflow.replicas.api_server >= 2 else 1
    container = {
        "name": "cloud-sql-proxy",
        "image": PROXY_IMAGE,
        "args": proxy_args(connection_name),
        "ports": [
            {"name": "postgres", "containerPort": naming.CLOUD_SQL_PROXY_PORT},
            {"name": "http", "containerPort": PROXY_HTTP_PORT},
        ],
        "securityContext": {**CONTAINER_SECURITY, "runAsUser": PROXY_UID},
        "resources": PROXY_RESOURCES,
        "startupProbe": _probe("/startup", 1, 20),
        # Five minutes of failed refreshes before a restart (the proxy refreshes certificates 5 min early).
        "livenessProbe": _probe("/liveness", 60, 5),
        "readinessProbe": _probe("/readiness", 10, 1),
    }
    pod = {
        "serviceAccountName": naming.KUBERNETES_SERVICE_ACCOUNT,
        "securityContext": {**POD_SECURITY, "runAsUser": PROXY_UID, "runAsGroup": PROXY_UID, "fsGroup": PROXY_UID},
        "containers": [container],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(env, name, "cloud-sql-proxy"),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app.kubernetes.io/name": "cloud-sql-proxy"}},
            "template": {"metadata": {"labels": _labels("cloud-sql-proxy")}, "spec": pod},
        },
    }


def proxy_service(env: Environment) -> dict:
    port = {"name": "postgres", "port": naming.CLOUD_SQL_PROXY_PORT, "targetPort": "postgres"}
    spec = {"type": "ClusterIP", "selector": {"app.kubernetes.io/name": "cloud-sql-proxy"}, "ports": [port]}
    return {"apiVersion": "v1", "kind": "Service", "metadata": _meta(env, naming.cloud_sql_proxy_service(env), "cloud-sql-proxy"), "spec": spec}


def _secret_env(name: str, secret: str, key: str) -> dict:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def migration_job(env: Environment) -> dict:
    """`airflow db migrate`, then the stats user's read-only grants; as the Airflow identity, on the platform image."""
    settings = build(env)
    repository, tag = image(env)
    fernet = naming.kubernetes_secret_name(naming.secret_id(env, "fernet_key"))
    variables = [
        {"name": env_key(section, key), "value": value}
        for (section, key), value in sorted(settings.config.items())
        if section in MIGRATION_SECTIONS
    ]
    container = {
        "name": "migrate",
        "image": f"{repository}:{tag}",
        "command": ["bash", "-ec", f"airflow db migrate\npython -c {shlex.quote(GRANTS_PY)}"],
        "env": [
            # A writable home: the root filesystem is read-only and the chart's airflow.cfg is not applied yet.
            {"name": "AIRFLOW_HOME", "value": f"{GKE_SCRATCH}/airflow"},
            *variables,
            _secret_env("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", naming.metadata_secret_name(env), METADATA_SECRET_KEY),
            _secret_env("AIRFLOW__CORE__FERNET_KEY", fernet, "fernet-key"),
            {"name": GRANTS_ENV, "value": stats.read_only_grants(naming.stats_database_user(env))},
        ],
        "securityContext": CONTAINER_SECURITY,
        "resources": MIGRATE_RESOURCES,
        "volumeMounts": [{"name": "scratch", "mountPath": GKE_SCRATCH}],
    }
    pod = {
        "serviceAccountName": naming.KUBERNETES_SERVICE_ACCOUNT,
        "restartPolicy": "Never",
        "securityContext": POD_SECURITY,
        "containers": [container],
        "volumes": [{"name": "scratch", "emptyDir": {"sizeLimit": "1Gi"}}],
    }
    # No ttlSecondsAfterFinished: the finished Job stays, so an unchanged image does not run it again
    # and Pulumi's state matches the cluster.
    spec = {"backoffLimit": 2, "template": {"metadata": {"labels": _labels("migrate")}, "spec": pod}}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": _meta(env, naming.migration_job(env), "migrate"), "spec": spec}


# --- The UI, when airflow.ui.host is set -----------------------------------------------------------------


def managed_certificate(env: Environment) -> dict:
    return {
        "apiVersion": "networking.gke.io/v1",
        "kind": "ManagedCertificate",
        "metadata": _meta(env, naming.ui_certificate(env), "api-server"),
        "spec": {"domains": [env.airflow.ui.host]},
    }


def ingress(env: Environment) -> dict:
    """GKE Ingress to the chart's API server Service, HTTPS only, on the stacks' static address.

    No BackendConfig: GKE derives the load balancer's health check from the API server's HTTP readiness
    probe, which the chart fixes to /api/v2/monitor/health.
    """
    annotations = {
        "kubernetes.io/ingress.global-static-ip-name": naming.ui_address(env),
        "networking.gke.io/managed-certificates": naming.ui_certificate(env),
        "kubernetes.io/ingress.allow-http": "false",
    }
    backend = {"service": {"name": naming.API_SERVER_SERVICE, "port": {"number": naming.API_SERVER_PORT}}}
    rule = {"host": env.airflow.ui.host, "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]}}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": _meta(env, naming.name(env, "ui"), "api-server", annotations=annotations),
        "spec": {"defaultBackend": backend, "rules": [rule]},
    }
