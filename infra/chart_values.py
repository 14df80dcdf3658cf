"""The builder's second renderer: Airflow settings → values for the official Apache Airflow chart.

    values = chart_values(env)     # a dict in the chart's own camelCase keys, for `helm template`

Everything Airflow runs with comes from `airflow_config.build(env)`, the same settings the local
renderer turns into environment variables; this module only says where the chart wants each one.
What the chart must never do on GKE is fixed here with its reason: no Helm hooks (migrations are a
deploy step), no chart-generated secrets (every Secret is created by the k8s/ program from Secret
Manager, by name), no database or broker of its own, every pod as the one Workload Identity account.
"""

from __future__ import annotations

import json

from infra import naming, signin
from infra.airflow_config import GKE_SCRATCH, GOOGLE_FRONT_ENDS, AirflowSettings, Component, build
from infra.config import ROOT, Environment, Resources
from infra.image import content_tag

# Builder component name → the chart's values key.
CHART_COMPONENTS = {"api-server": "apiServer", "scheduler": "scheduler", "dag-processor": "dagProcessor", "triggerer": "triggerer"}
# Airflow options the chart takes as existing Secrets by name (the key inside each is the chart's).
SECRET_OPTIONS = {
    ("core", "fernet_key"): "fernetKeySecretName",
    ("api", "secret_key"): "apiSecretKeySecretName",
    ("api_auth", "jwt_secret"): "jwtSecretName",
}
# Options the chart computes itself from other values (kept out of `config` so there is one source).
CHART_OWNED = {("core", "executor"), ("dag_processor", "dag_bundle_config_list")}

LOCAL_SETTINGS = ROOT / "dags" / "airflow_local_settings.py"
UID = 50000  # the official image's `airflow` user
POD_SECURITY = {
    "runAsNonRoot": True,
    "runAsUser": UID,
    "runAsGroup": 0,  # the image's files are group 0 (OpenShift-style), Airflow needs to read them
    "fsGroup": 0,
    "seccompProfile": {"type": "RuntimeDefault"},
}
CONTAINER_SECURITY = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,  # writable: /tmp (scratch) and the logs volume only
    "runAsNonRoot": True,
    "runAsUser": UID,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}
# Init containers (wait-for-migrations) and sidecars: small and fixed, they only poll.
SIDECAR_RESOURCES = {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"cpu": "200m", "memory": "256Mi"}}
SCRATCH_SIZE = "1Gi"
LOGS_SIZE = "2Gi"  # components log to stdout, task logs go to GCS: the logs volume only buffers


def _resources(r: Resources) -> dict:
    return {"requests": {"cpu": r.cpu, "memory": r.memory}, "limits": {"cpu": r.cpu_limit, "memory": r.memory_limit}}


def _component(env: Environment, settings: AirflowSettings, name: str) -> dict:
    component = settings.component(name)
    key = name.replace("-", "_")
    replicas = getattr(env.airflow.replicas, key)
    out: dict = {
        "replicas": replicas,
        "resources": _resources(getattr(env.kubernetes.resources, key)),
        # Only with two or more replicas: a budget on a single pod would block every node drain.
        "podDisruptionBudget": {"enabled": replicas >= 2, "config": {"maxUnavailable": 1}},
        "serviceAccount": {"create": False, "name": naming.KUBERNETES_SERVICE_ACCOUNT},
        "waitForMigrations": {"enabled": True},
    }
    # The builder's probes are already in the chart's terms: `command` and four timings for exec probes,
    # the timings alone for the API server (the chart fixes its path to /api/v2/monitor/health).
    out.update(component.chart_probes())
    if name == "api-server":
        out.pop("waitForMigrations")
        out.update(_api_server(env, component))
    if name in ("scheduler", "dag-processor", "triggerer"):
        # Nothing on disk to groom: components log to stdout, task logs are uploaded to GCS.
        out["logGroomerSidecar"] = {"enabled": False}
    return out


def _api_server(env: Environment, component: Component) -> dict:
    """The API server runs the builder's command, signs people in with Google (FAB reads the generated
    webserver_config.py, mounted by the chart), and gets the OAuth client from the k8s/ program's Secrets."""
    client_id, client_secret = naming.oauth_kubernetes_secrets(env)
    oauth = ((signin.CLIENT_ID_ENV, client_id), (signin.CLIENT_SECRET_ENV, client_secret))
    return {
        "args": list(component.command),
        "apiServerConfig": signin.webserver_config(env),
        "env": [
            *({"name": name, "value": value} for name, value in component.environment),
            *({"name": var, "valueFrom": {"secretKeyRef": {"name": secret, "key": naming.OAUTH_SECRET_KEY}}} for var, secret in oauth),
        ],
    }


def _config(settings: AirflowSettings) -> dict[str, dict[str, str]]:
    config: dict[str, dict[str, str]] = {}
    for (section, key), value in sorted(settings.config.items()):
        if (section, key) not in CHART_OWNED:
            config.setdefault(section, {})[key] = value
    return config


def _secret_names(env: Environment, settings: AirflowSettings) -> dict:
    out = {}
    for option, secret_id in settings.secrets.items():
        if option not in SECRET_OPTIONS:
            raise ValueError(f"{option}: no chart value takes this secret by name")
        out[SECRET_OPTIONS[option]] = naming.kubernetes_secret_name(secret_id)
    return out


def image(env: Environment) -> tuple[str, str]:
    """(repository, tag) of the image every Airflow container and task pod runs: unless the environment
    pins a tag, the content tag `invoke image` pushes for this checkout (infra.image.content_tag)."""
    i = env.kubernetes.image
    return i.repository or naming.image_repository(env), i.tag or content_tag()


def chart_values(env: Environment, settings: AirflowSettings | None = None) -> dict:
    """The values `helm template` gets for `env` (runtime gke)."""
    if env.runtime != "gke":
        raise ValueError(f"{env.name}: chart values exist only for runtime gke")
    settings = settings or build(env)
    celery = settings.get("core", "executor") == "CeleryExecutor"
    repository, tag = image(env)
    bundles = json.loads(settings.config["dag_processor", "dag_bundle_config_list"])
    sidecar_security = {"container": CONTAINER_SECURITY}
    values: dict = {
        "airflowVersion": env.airflow.version,
        "defaultAirflowRepository": repository,
        "defaultAirflowTag": tag,
        # Always: a tag re-pushed after a fix must reach every node (tags are content hashes anyway).
        "images": {"airflow": {"repository": repository, "tag": tag, "pullPolicy": "Always"}},
        "useStandardNaming": True,
        "executor": settings.get("core", "executor"),
        "config": _config(settings),
        **_secret_names(env, settings),
        # The metadata connection: the IAM user through the Cloud SQL Auth Proxy, no password (naming.metadata_connection_url).
        "data": {"metadataSecretName": naming.metadata_secret_name(env)},
        "postgresql": {"enabled": False},
        "pgbouncer": {"enabled": False},
        "statsd": {"enabled": False},
        # Migrations are an explicit deploy step; hooks deadlock with a wait for ready Deployments.
        "migrateDatabaseJob": {"enabled": False, "useHelmHooks": False, "serviceAccount": {"create": False}},
        # No fixed user on GKE: people sign in with Google (apiServer.apiServerConfig).
        "createUserJob": {"enabled": False, "useHelmHooks": False, "serviceAccount": {"create": False}},
        # The same hook the local runtime loads from the DAGs folder (quiet probe logs); the chart mounts it
        # into every component as $AIRFLOW_HOME/config/airflow_local_settings.py, which Airflow imports.
        "airflowLocalSettings": LOCAL_SETTINGS.read_text(),
        "securityContexts": {"pod": POD_SECURITY, "containers": CONTAINER_SECURITY},
        "volumes": [{"name": "scratch", "emptyDir": {"sizeLimit": SCRATCH_SIZE}}],
        "volumeMounts": [{"name": "scratch", "mountPath": GKE_SCRATCH}],
        "logs": {"emptyDirConfig": {"sizeLimit": LOGS_SIZE}},
        "dagProcessor": {"dagBundleConfigList": bundles},
        "workers": {
            "replicas": env.airflow.replicas.workers,
            "resources": _resources(env.kubernetes.resources.workers),
            "serviceAccount": {"create": False, "name": naming.KUBERNETES_SERVICE_ACCOUNT},
            "logGroomerSidecar": {"enabled": False},
        },
        "redis": {"enabled": celery},
        # Enforced by GKE Dataplane V2 (stacks/gke.py): ingress only from where each component is called.
        "networkPolicies": {"enabled": True},
    }
    for name, key in CHART_COMPONENTS.items():
        values[key] = {**values.get(key, {}), **_component(env, settings, name)}
    values["apiServer"]["networkPolicy"] = {
        "ingress": {"from": [{"podSelector": {}}, *({"ipBlock": {"cidr": cidr}} for cidr in GOOGLE_FRONT_ENDS)]}
    }
    values["triggerer"]["enabled"] = env.airflow.replicas.triggerer > 0
    # A Deployment, not a StatefulSet with a disk per pod: its logs go to stdout.
    values["triggerer"]["persistence"] = {"enabled": False}
    for key in ("scheduler", "dagProcessor", "triggerer"):
        values[key]["waitForMigrations"]["securityContexts"] = sidecar_security
    if celery:
        values["redis"]["passwordSecretName"] = naming.kubernetes_secret_name(naming.secret_id(env, "redis_password"))
    # Named even without Celery: otherwise the chart renders a broker Secret with a random value as a hook.
    values["data"]["brokerUrlSecretName"] = naming.kubernetes_secret_name(naming.secret_id(env, "celery_broker_url"))
    return values
