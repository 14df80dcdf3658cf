"""What the k8s/ program registers, by name: shared by the program and the deploy that targets it.

The program (k8s/) creates the prerequisites in `prerequisites(env)` order, then one resource per
rendered chart object; the deploy's "migrations" step applies the prerequisites and the migration Job
before any chart object. Both take every resource's Pulumi type and name from here, so the URNs the
deploy passes to `pulumi up` are the URNs the program registers (tests/k8s_program holds the two together).
Cheap to import: no Pulumi, no Kubernetes client.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from infra import naming
from infra.config import Environment
from infra.errors import UserError

COMPONENT_TYPE = "airflow:platform:AirflowPlatform"
# Where the deploy writes what the program needs from terraform (no secret in it); the program reads
# the path from this variable, so the input of a run is explicit.
INPUTS_ENV = "AIRFLOW_PLATFORM_INPUTS"
INPUT_KEYS = ("sql_connection_name", "image_tag")

# Keys inside the Kubernetes Secrets the chart reads (its templates/_helpers.yaml and redis templates).
CHART_SECRET_KEYS = {
    "fernet_key": "fernet-key",
    "api_secret_key": "api-secret-key",
    "jwt_secret": "jwt-secret",
    "redis_password": "password",
    "celery_broker_url": "connection",
}
METADATA_SECRET_KEY = "connection"


@dataclass(frozen=True)
class Key:
    """One Kubernetes object, as Pulumi names it."""

    api_version: str
    kind: str
    name: str
    namespace: str | None = None

    @classmethod
    def of(cls, obj: dict) -> Key:
        meta = obj["metadata"]
        return cls(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"))

    @property
    def type(self) -> str:
        """The Pulumi type token: pulumi-kubernetes spells the core group `core`."""
        group, _, version = self.api_version.rpartition("/")
        return f"kubernetes:{group or 'core'}/{version}:{self.kind}"

    @property
    def resource_name(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name

    def urn(self, env: Environment) -> str:
        # Children of the component: the parent's type is part of the child's type (`Parent$Child`).
        return f"urn:pulumi:{env.name}::{naming.PULUMI_PROJECT}::{COMPONENT_TYPE}${self.type}::{self.resource_name}"


def component_name(env: Environment) -> str:
    return f"airflow-{env.name}"


def component_urn(env: Environment) -> str:
    return f"urn:pulumi:{env.name}::{naming.PULUMI_PROJECT}::{COMPONENT_TYPE}::{component_name(env)}"


def airflow_secrets(env: Environment) -> list[tuple[str, str, str]]:
    """(Secret Manager id, Kubernetes Secret, key inside it) of every secret the program copies into the cluster."""
    out = []
    for purpose in naming.airflow_secrets(env):
        secret_id = naming.secret_id(env, purpose)
        out.append((secret_id, naming.kubernetes_secret_name(secret_id), CHART_SECRET_KEYS[purpose]))
    oauth_ids = (naming.oauth_client_id_secret(env), naming.oauth_client_secret_secret(env))
    for secret_id, secret_name in zip(oauth_ids, naming.oauth_kubernetes_secrets(env)):
        out.append((secret_id, secret_name, naming.OAUTH_SECRET_KEY))
    return out


def prerequisites(env: Environment) -> list[Key]:
    """What the migration Job needs, in apply order, the Job last: everything applied before the chart."""
    ns = naming.namespace(env)
    keys = [
        Key("v1", "Namespace", ns),
        Key("v1", "ServiceAccount", naming.KUBERNETES_SERVICE_ACCOUNT, ns),
        Key("v1", "ServiceAccount", naming.STATS_KUBERNETES_SERVICE_ACCOUNT, ns),
        *(Key("v1", "Secret", name, ns) for _, name, _ in airflow_secrets(env)),
        Key("v1", "Secret", naming.metadata_secret_name(env), ns),
        Key("apps/v1", "Deployment", naming.cloud_sql_proxy_service(env), ns),
        Key("v1", "Service", naming.cloud_sql_proxy_service(env), ns),
    ]
    return keys + [migration_job(env)]


def migration_job(env: Environment) -> Key:
    return Key("batch/v1", "Job", naming.migration_job(env), naming.namespace(env))


def later(env: Environment, chart_objects: list[dict]) -> list[Key]:
    """What is applied only once the Job completed: every chart object, then the UI's certificate and Ingress."""
    keys = [Key.of(obj) for obj in chart_objects]
    if env.airflow.ui.host:
        ns = naming.namespace(env)
        keys += [Key("networking.gke.io/v1", "ManagedCertificate", naming.ui_certificate(env), ns),
                 Key("networking.k8s.io/v1", "Ingress", naming.name(env, "ui"), ns)]
    return keys


@dataclass(frozen=True)
class MigrationsPlan:
    """The migrations step: `applied` (in order, the Job last) is applied; `excluded` waits for the full `pulumi up`."""

    applied: list[str]
    excluded: list[str]


def migrations_plan(env: Environment, chart_objects: list[dict]) -> MigrationsPlan:
    """The URNs of the migrations step; the one place the deploy computes a URN of the program's resources."""
    applied = [component_urn(env)] + [key.urn(env) for key in prerequisites(env)]
    return MigrationsPlan(applied, [key.urn(env) for key in later(env, chart_objects)])


# --- The program's inputs from terraform ---------------------------------------------------------------


def write_inputs(path: Path, values: dict[str, str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({key: values[key] for key in INPUT_KEYS}, indent=2, sort_keys=True) + "\n")
    return path


def read_inputs(path: Path) -> dict[str, str]:
    """The inputs file the deploy wrote; one line naming it and the missing key otherwise."""
    if not path.is_file():
        raise UserError(f"{path} does not exist: run the k8s/ program through `invoke deploy ENV`, which writes it")
    data = json.loads(path.read_text())
    for key in INPUT_KEYS:
        if not data.get(key):
            raise UserError(f"{path}: key {key!r} is missing: run `invoke deploy ENV` again to rewrite it")
    return data


def with_image_tag(env: Environment, tag: str) -> Environment:
    """The environment with the platform image's tag, unless the environment file pins one itself."""
    image = env.kubernetes.image
    if image.tag or image.repository:
        return env
    kubernetes = env.kubernetes.model_copy(update={"image": image.model_copy(update={"tag": tag})})
    return env.model_copy(update={"kubernetes": kubernetes})
