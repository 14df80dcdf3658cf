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
