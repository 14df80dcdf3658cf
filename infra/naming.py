"""Every GCP resource name, built from the environment and a purpose.

One place so names stay predictable (`af-prod-gke`, `acme-airflow-prod-af-prod-logs-archive`) and
within GCP's limits. A name, once deployed, must not change: renaming destroys and recreates.
"""

from __future__ import annotations

import re

from infra.config import Environment
from infra.errors import ConfigError

PREFIX = "af"

# GCP limits per kind of name: (max length, allowed pattern).
LIMITS = {
    "resource": (63, r"^[a-z]([-a-z0-9]*[a-z0-9])?$"),
    "service_account": (30, r"^[a-z]([-a-z0-9]*[a-z0-9])$"),
    "bucket": (63, r"^[a-z0-9][-a-z0-9_.]*[a-z0-9]$"),
    "secret": (255, r"^[a-zA-Z0-9_-]+$"),
    "log_bucket": (100, r"^[a-zA-Z0-9_-]+$"),
    "sql_instance": (98, r"^[a-z]([-a-z0-9]*[a-z0-9])?$"),
    "cluster": (40, r"^[a-z]([-a-z0-9]*[a-z0-9])?$"),
}


def _checked(name: str, kind: str) -> str:
    limit, pattern = LIMITS[kind]
    if len(name) > limit or not re.match(pattern, name):
        raise ConfigError(f"derived {kind} name {name!r} breaks GCP's rules (max {limit} chars, {pattern})")
    return name


def name(env: Environment, purpose: str, kind: str = "resource") -> str:
    """`af-<env>-<purpose>`: the name of an environment's resource inside its project."""
    separator = "_" if kind in ("secret", "log_bucket") else "-"
    return _checked(separator.join([PREFIX, env.name, purpose]), kind)


def bucket(env: Environment, purpose: str) -> str:
    """Bucket names are global: prefix them with the project ID."""
    assert env.gcp is not None, "buckets exist only for runtime gke"
    return _checked(f"{env.gcp.project_id}-{PREFIX}-{env.name}-{purpose}", "bucket")


def service_account_email(env: Environment, purpose: str) -> str:
    assert env.gcp is not None
    return f"{name(env, purpose, 'service_account')}@{env.gcp.project_id}.iam.gserviceaccount.com"


def stack_name(env: Environment) -> str:
    """One Terraform stack per environment; its folder under cdktf.out/stacks/."""
    return env.name


def labels(env: Environment) -> dict[str, str]:
    """Labels for every GCP resource that takes them."""
    return {"managed-by": "airflow-gke-platform", "environment": env.name, **env.labels}


# --- Names that cross layers (the stacks create them, Airflow and the cluster side ask for them) ----
# Each has exactly one function; stacks/, the Airflow config builder and the chart values import it.

# Secret Manager secrets the stacks create empty and the deploy fills; Airflow reads each through a
# Kubernetes Secret of the same name (`_` → `-`, Kubernetes names allow no underscore).
AIRFLOW_SECRETS = ("fernet_key", "api_secret_key", "jwt_secret")
# With CeleryExecutor the broker's password and URL are secrets too (nothing random in the chart).
CELERY_SECRETS = ("redis_password", "celery_broker_url")
# The Kubernetes service account every Airflow pod runs as, bound to the Google one by Workload Identity.
KUBERNETES_SERVICE_ACCOUNT = "airflow"
DATABASE_NAME = "airflow"
# Port of the Cloud SQL Auth Proxy's Service inside the namespace (PostgreSQL's own port).
CLOUD_SQL_PROXY_PORT = 5432


def airflow_secrets(env: Environment) -> tuple[str, ...]:
    """Purposes of the Secret Manager secrets the environment's Airflow needs (depends on the executor)."""
    celery = env.airflow.executor == "CeleryExecutor"
    return AIRFLOW_SECRETS + (CELERY_SECRETS if celery else ())


def secret_id(env: Environment, purpose: str) -> str:
    """Secret Manager secret id, e.g. `af_prod_fernet_key`."""
    return name(env, purpose, "secret")


def kubernetes_secret_name(secret_id: str) -> str:
    """The Kubernetes Secret mirroring a Secret Manager secret: `af_prod_fernet_key` → `af-prod-fernet-key`."""
    return _checked(secret_id.replace("_", "-"), "resource")


def connections_prefix(env: Environment) -> str:
    """`connections_prefix` of Airflow's Secret Manager backend; the stack grants read on it."""
    return name(env, "connections", "secret")


def variables_prefix(env: Environment) -> str:
    """`variables_prefix` of Airflow's Secret Manager backend; the stack grants read on it."""
    return name(env, "variables", "secret")


def namespace(env: Environment) -> str:
    """The Kubernetes namespace of every Airflow object."""
    return env.airflow.namespace


def kubernetes_service_account(env: Environment) -> str:
    """`<namespace>/<name>`: the Workload Identity member of Airflow's pods."""
    return f"{namespace(env)}/{KUBERNETES_SERVICE_ACCOUNT}"


def airflow_service_account(env: Environment) -> str:
    """Email of the Google service account Airflow acts as."""
    return service_account_email(env, "airflow")


def task_logs_bucket(env: Environment) -> str:
    """The bucket task logs are kept in (Airflow's remote logging): on GCP the stack's `task-logs`
    bucket; locally a bucket of the local GCS endpoint, so both read logs the same way."""
    if env.gcp is None:
        return _checked(f"{PREFIX}-{env.name}-task-logs", "bucket")
    return bucket(env, "task-logs")


def archive_bucket(env: Environment) -> str:
    """Bucket keeping a copy of all routed logs."""
    return bucket(env, "logs-archive")


def database_name(env: Environment) -> str:
    """The Cloud SQL database holding Airflow's metadata."""
    return DATABASE_NAME


def iam_database_user(env: Environment) -> str:
    """Cloud SQL names a PostgreSQL IAM service-account user by its email without `.gserviceaccount.com`."""
    return airflow_service_account(env).removesuffix(".gserviceaccount.com")


def cloud_sql_proxy_service(env: Environment) -> str:
    """The Service of the Cloud SQL Auth Proxy in the namespace (created by the k8s/ program)."""
    return name(env, "cloud-sql-proxy")


def metadata_secret_name(env: Environment) -> str:
    """Kubernetes Secret holding the metadata connection URL (through the proxy, IAM login: no password)."""
    return name(env, "metadata-db")


def metadata_connection_url(env: Environment) -> str:
    """What `metadata_secret_name` holds: the IAM user through the Auth Proxy, which logs in for it."""
    host = f"{cloud_sql_proxy_service(env)}.{namespace(env)}.svc.cluster.local"
    return f"postgresql+psycopg2://{iam_database_user(env)}@{host}:{CLOUD_SQL_PROXY_PORT}/{database_name(env)}"


def oauth_client_id_secret(env: Environment) -> str:
    """Secret Manager secret holding the Google OAuth client id the API server signs users in with."""
    return name(env, "oauth_client_id", "secret")


def oauth_client_secret_secret(env: Environment) -> str:
    """Secret Manager secret holding that OAuth client's secret."""
    return name(env, "oauth_client_secret", "secret")


def artifact_repository(env: Environment) -> str:
    """Artifact Registry (Docker) repository holding the platform image."""
    return name(env, "images")


def image_repository(env: Environment) -> str:
    """Full image path of the platform image, without tag."""
    assert env.gcp is not None, "images exist only for runtime gke"
    return f"{env.gcp.region}-docker.pkg.dev/{env.gcp.project_id}/{artifact_repository(env)}/airflow"


# --- The read-only identity of `invoke stats` / `invoke progress` on GKE (never Airflow's own) -------
STATS_KUBERNETES_SERVICE_ACCOUNT = "airflow-stats"


def stats_service_account_id(env: Environment) -> str:
    """Account id of the stats Google service account (`af-<env>-stats`)."""
    return name(env, "stats", "service_account")


def stats_service_account_email(env: Environment) -> str:
    return service_account_email(env, "stats")


def stats_kubernetes_service_account(env: Environment) -> str:
    """The Kubernetes service account (in Airflow's namespace) the stats Job runs as; Workload Identity maps it."""
    return STATS_KUBERNETES_SERVICE_ACCOUNT


def stats_database_user(env: Environment) -> str:
    """Cloud SQL names an IAM service-account user by its email without `.gserviceaccount.com`."""
    return stats_service_account_email(env).removesuffix(".gserviceaccount.com")


# --- Spark (Dataproc Serverless): the stacks create these, the Airflow side submits batches with them.


def spark_service_account(env: Environment) -> str:
    """E-mail of the runtime service account Dataproc Serverless batches run as."""
    return service_account_email(env, "spark")


def spark_staging_bucket(env: Environment) -> str:
    """Bucket for Dataproc's staging files and the PySpark scripts of the DAG repository."""
    return bucket(env, "spark-staging")


def spark_scripts_prefix() -> str:
    """Folder in the staging bucket that mirrors the DAG repository (script `spark/x.py` → `<prefix>/spark/x.py`)."""
    return "dags"


def subnetwork(env: Environment) -> str:
    """The environment's one subnetwork (nodes, and Dataproc batches)."""
    return name(env, "nodes")


def subnetwork_uri(env: Environment) -> str:
    """The subnetwork as Dataproc's `subnetwork_uri` takes it."""
    assert env.gcp is not None
    return f"projects/{env.gcp.project_id}/regions/{env.gcp.region}/subnetworks/{subnetwork(env)}"


# --- The cluster side's Pulumi program (k8s/): its state, its secrets key, and what it creates --------
PULUMI_PROJECT = "airflow-platform"  # `name:` in k8s/Pulumi.yaml
PULUMI_STATE_PREFIX = "pulumi"  # terraform keeps its state under `<env>/` in the same bucket
# One key ring per project, shared by every environment in it: key rings cannot be deleted, so the deploy
# creates it when missing (like the state bucket) and the stacks create one key per environment in it.
PULUMI_KEY_RING = "af-pulumi"
# The chart's API server Service (useStandardNaming: `<release>-api-server`) and its port.
API_SERVER_SERVICE = "airflow-api-server"
API_SERVER_PORT = 8080


def pulumi_backend_url(env: Environment) -> str:
    """Pulumi's state: the environment's state bucket, under its own prefix."""
    assert env.gcp is not None, "the k8s/ program runs only for runtime gke"
    return f"gs://{env.gcp.state_bucket}/{PULUMI_STATE_PREFIX}"


def pulumi_key_ring(env: Environment) -> str:
    """Resource path of the project's Pulumi key ring."""
    assert env.gcp is not None
    return f"projects/{env.gcp.project_id}/locations/{env.gcp.region}/keyRings/{PULUMI_KEY_RING}"


def pulumi_secrets_key(env: Environment) -> str:
    """Id of the environment's Cloud KMS key encrypting the Pulumi stack's secrets (`af-prod-pulumi`)."""
    return name(env, "pulumi")


def pulumi_secrets_provider(env: Environment) -> str:
    """`--secrets-provider` of the environment's Pulumi stack."""
    return f"gcpkms://{pulumi_key_ring(env)}/cryptoKeys/{pulumi_secrets_key(env)}"


def migration_job(env: Environment) -> str:
    """The Job running `airflow db migrate` before the chart's objects are applied."""
    return name(env, "migrate")


def ui_address(env: Environment) -> str:
    """Global static IP address of the UI's Ingress (the stacks reserve it; DNS points airflow.ui.host at it)."""
    return name(env, "ui")


def ui_certificate(env: Environment) -> str:
    """GKE ManagedCertificate for airflow.ui.host."""
    return name(env, "ui")


# The key holding the value inside each OAuth Kubernetes Secret (the chart-owned secrets use the chart's keys).
OAUTH_SECRET_KEY = "value"


def oauth_kubernetes_secrets(env: Environment) -> tuple[str, str]:
    """Kubernetes Secrets (client id, client secret) mirroring the OAuth client's Secret Manager secrets."""
    return kubernetes_secret_name(oauth_client_id_secret(env)), kubernetes_secret_name(oauth_client_secret_secret(env))


# --- j2
# The FAB user the bootstrap acts as on GKE: role Admin, a random password nobody knows (people sign in with Google).
BOOTSTRAP_USER = "platform-bootstrap"
# The chart's API server container: where the bootstrap mints that user's token through the exec API.
API_SERVER_CONTAINER = "api-server"
