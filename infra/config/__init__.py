"""The environment model: the only schema of `environments/*.yaml`.

Every difference between `local`, `dev`, `qa` and `prod` is a value in one of those files, validated
here once and passed down to the stacks, the Airflow configuration builder and the CLI. Models forbid
unknown keys (a typo must never be silently ignored) and every field says what it is for: that
description is what a user reads when they get it wrong.

    env = load_environment("prod")        # environments/prod.yaml
    envs = load_all(runtime="gke")        # every GCP environment; one bad file stops them all

The models live in one module per side (`gcp`: what stacks/ builds; `airflow_side` and
`airflow_objects`: what Airflow and the cluster run), composed by `environment`; `loading` turns files
into that model. Import everything from `infra.config`.
"""

from infra.config.airflow_objects import SECRET_ID, SECRET_LOOKING, Bootstrap, ConnectionSpec, PoolSpec, VariableSpec
from infra.config.airflow_side import (
    CPU,
    MEMORY,
    Airflow,
    Alerts,
    Canary,
    ChartPin,
    ComponentResources,
    ConfigValue,
    DagSource,
    Image,
    Kubernetes,
    Local,
    Principal,
    QueuedWatch,
    Replicas,
    Resources,
    SignIn,
    Spark,
    SparkEmr,
    Ui,
)
from infra.config.base import LABEL_KEY, LABEL_VALUE, RESOURCE_NAME, Labels, StrictModel
from infra.config.environment import Environment
from infra.config.gcp import (
    FIXED_DATABASE_FLAGS,
    TIER_RE,
    WEEKDAYS,
    AuthorizedNetwork,
    Database,
    DatabaseBackups,
    DatabaseMaintenance,
    Gcp,
    Gke,
    GkeMaintenance,
    LifecycleRule,
    LogArchive,
    Logging,
    LogSink,
    Network,
    NodePool,
    Taint,
    default_sinks,
)
from infra.config.loading import (
    ENV_NAME_RE,
    ENVIRONMENTS_DIR,
    ROOT,
    environment_path,
    list_environments,
    load_all,
    load_environment,
    parse_environment,
)

__all__ = [
    "Airflow",
    "Alerts",
    "AuthorizedNetwork",
    "Bootstrap",
    "CPU",
    "Canary",
    "ChartPin",
    "ComponentResources",
    "ConfigValue",
    "ConnectionSpec",
    "DagSource",
    "Database",
    "DatabaseBackups",
    "DatabaseMaintenance",
    "ENVIRONMENTS_DIR",
    "ENV_NAME_RE",
    "Environment",
    "FIXED_DATABASE_FLAGS",
    "Gcp",
    "Gke",
    "GkeMaintenance",
    "Image",
    "Kubernetes",
    "LABEL_KEY",
    "LABEL_VALUE",
    "Labels",
    "LifecycleRule",
    "Local",
    "LogArchive",
    "LogSink",
    "Logging",
    "MEMORY",
    "Network",
    "NodePool",
    "PoolSpec",
    "Principal",
    "QueuedWatch",
    "RESOURCE_NAME",
    "ROOT",
    "Replicas",
    "Resources",
    "SECRET_ID",
    "SECRET_LOOKING",
    "SignIn",
    "Spark",
    "SparkEmr",
    "StrictModel",
    "TIER_RE",
    "Taint",
    "Ui",
    "VariableSpec",
    "WEEKDAYS",
    "default_sinks",
    "environment_path",
    "list_environments",
    "load_all",
    "load_environment",
    "parse_environment",
]
