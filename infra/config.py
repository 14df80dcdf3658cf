"""The environment model: the only schema of `environments/*.yaml`.

Every difference between `local`, `dev`, `qa` and `prod` is a value in one of those files, validated
here once and passed down to the stacks, the Airflow configuration builder and the CLI. Models forbid
unknown keys (a typo must never be silently ignored) and every field says what it is for: that
description is what a user reads when they get it wrong.

    env = load_environment("prod")        # environments/prod.yaml
    envs = load_all(runtime="gke")        # every GCP environment; one bad file stops them all
"""

from __future__ import annotations

import ipaddress
import os
import re
from datetime import time
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from infra.errors import ConfigError
from platform_schema import Document, DocumentError, explain, fail, fail_at, shown_path

ROOT = Path(__file__).resolve().parent.parent
# Overridable so a team can keep its environment files in a separate config repository (and tests use tmp dirs).
ENVIRONMENTS_DIR = Path(os.environ.get("PLATFORM_ENVIRONMENTS_DIR", ROOT / "environments"))

# Short enough that every derived GCP name (service accounts: 30 chars) still fits.
ENV_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,13}[a-z0-9]$")
RESOURCE_NAME = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
LABEL_KEY = r"^[a-z][a-z0-9_-]{0,62}$"
LABEL_VALUE = r"^[a-z0-9_-]{0,63}$"


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


Labels = dict[
    Annotated[str, Field(pattern=LABEL_KEY)],
    Annotated[str, Field(pattern=LABEL_VALUE)],
]


# --- GCP placement -------------------------------------------------------------------------------


class Gcp(StrictModel):
    project_id: str = Field(
        pattern=r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$",
        description="GCP project ID that holds the environment (6-30 chars, lowercase, digits, dashes).",
    )
    region: str = Field(pattern=r"^[a-z]+-[a-z]+[0-9]+$", description="GCP region, e.g. europe-west1.")
    zones: list[str] = Field(
        min_length=1,
        description="Zones inside the region for nodes; a zonal cluster uses the first one.",
    )
    state_bucket: str = Field(
        pattern=r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$",
        description="GCS bucket holding Terraform state; the first deploy creates it if missing.",
    )

    @field_validator("zones")
    @classmethod
    def _zones_in_region(cls, zones: list[str], info) -> list[str]:
        region = info.data.get("region")
        for zone in zones:
            if region and not re.fullmatch(rf"{re.escape(region)}-[a-z]", zone):
                raise fail(f"zone must be in region {region} (like {region}-b), got {zone!r}")
        if len(set(zones)) != len(zones):
            raise fail(f"zones must not repeat, got {zones}")
        return zones


# --- Network -------------------------------------------------------------------------------------


class AuthorizedNetwork(StrictModel):
    name: str = Field(min_length=1, description="Who this range belongs to, shown in the GKE console.")
    cidr: ipaddress.IPv4Network = Field(description="CIDR allowed to reach the GKE control plane.")


class Network(StrictModel):
    nodes_cidr: ipaddress.IPv4Network = Field(
        default=ipaddress.IPv4Network("10.10.0.0/20"),
        description="Primary range of the subnet; GKE nodes get addresses here. Changing it recreates the subnet.",
    )
    pods_cidr: ipaddress.IPv4Network = Field(
        default=ipaddress.IPv4Network("10.20.0.0/16"),
        description="Secondary range for pods. Changing it recreates the cluster.",
    )
    services_cidr: ipaddress.IPv4Network = Field(
        default=ipaddress.IPv4Network("10.30.0.0/20"),
        description="Secondary range for Kubernetes services. Changing it recreates the cluster.",
    )
    control_plane_cidr: ipaddress.IPv4Network = Field(
        default=ipaddress.IPv4Network("172.16.0.0/28"),
        description="The /28 that the private GKE control plane lives in. Changing it recreates the cluster.",
    )
    private_service_access_cidr: ipaddress.IPv4Network = Field(
        default=ipaddress.IPv4Network("10.40.0.0/20"),
        description="Range reserved for Google-managed services (Cloud SQL private IP); /24 or larger.",
    )
    authorized_networks: list[AuthorizedNetwork] = Field(
        default_factory=list,
        description="CIDRs allowed to reach the cluster's control plane (VPN, CI runners).",
    )
    flow_log_sampling: float = Field(
        default=0.5, ge=0.0, le=1.0, description="Fraction of VPC flow logs kept (0 to 1)."
    )

    @field_validator("control_plane_cidr")
    @classmethod
    def _control_plane_is_28(cls, value: ipaddress.IPv4Network) -> ipaddress.IPv4Network:
        if value.prefixlen != 28:
            raise fail(f"must be a /28 (GKE requires it), got '{value}'")
        return value

    @field_validator("private_service_access_cidr")
    @classmethod
    def _psa_size(cls, value: ipaddress.IPv4Network) -> ipaddress.IPv4Network:
        if value.prefixlen > 24:
            raise fail(f"must be /24 or larger (Cloud SQL needs room), got '{value}'")
        return value

    @model_validator(mode="after")
    def _no_overlap(self) -> Network:
        seen: list[tuple[str, ipaddress.IPv4Network]] = []
        for key in ("nodes_cidr", "pods_cidr", "services_cidr", "control_plane_cidr", "private_service_access_cidr"):
            cidr = getattr(self, key)
            for other_key, other in seen:
                if cidr.overlaps(other):
                    raise fail_at(key, f"{cidr} overlaps {other_key} ({other})")
            seen.append((key, cidr))
        return self


# --- GKE -----------------------------------------------------------------------------------------


class Taint(StrictModel):
    key: str = Field(min_length=1, description="Taint key.")
    value: str = Field(description="Taint value.")
    effect: Literal["NO_SCHEDULE", "PREFER_NO_SCHEDULE", "NO_EXECUTE"] = Field(description="Taint effect.")


class NodePool(StrictModel):
    name: str = Field(pattern=RESOURCE_NAME, max_length=40, description="Node pool name (lowercase, dashes).")
    machine_type: str = Field(
        default="e2-standard-4", pattern=r"^[a-z][a-z0-9]*-[a-z0-9-]+$", description="Compute Engine machine type."
    )
    min_nodes: int = Field(default=1, ge=0, le=1000, description="Autoscaling minimum per zone.")
    max_nodes: int = Field(default=3, ge=0, le=1000, description="Autoscaling maximum per zone; >= min_nodes.")
    spot: bool = Field(default=False, description="Use Spot VMs (cheap, can be reclaimed at any time).")
    disk_size_gb: int = Field(default=100, ge=10, le=65536, description="Boot disk size in GB.")
    disk_type: Literal["pd-standard", "pd-balanced", "pd-ssd"] = Field(
        default="pd-balanced", description="Boot disk type."
    )
    labels: Labels = Field(default_factory=dict, description="Kubernetes labels on the nodes.")
    taints: list[Taint] = Field(default_factory=list, description="Kubernetes taints on the nodes.")

    @field_validator("max_nodes")
    @classmethod
    def _max_at_least_min(cls, value: int, info) -> int:
        minimum = info.data.get("min_nodes")
        if minimum is not None and value < minimum:
            raise fail(f"must be >= min_nodes ({minimum}), got {value}")
        if value == 0:
            raise fail("must be >= 1 (a pool that can never have a node is useless), got 0")
        return value


WEEKDAYS = Literal["MO", "TU", "WE", "TH", "FR", "SA", "SU"]


class GkeMaintenance(StrictModel):
    days: list[WEEKDAYS] = Field(default=["SA", "SU"], min_length=1, description="Days GKE may upgrade (UTC).")
    start_time: time = Field(default=time(2, 0), description="Start of the window, HH:MM UTC.")
    duration_hours: int = Field(default=6, ge=4, le=24, description="Window length in hours (GKE needs >= 4).")

    @model_validator(mode="after")
    def _enough_for_gke(self) -> GkeMaintenance:
        # GKE refuses a recurring window with less than 48 h of availability in any 32 days.
        days = len(set(self.days))
        if 4 * days * self.duration_hours < 48:
            raise fail_at(
                "duration_hours",
                f"GKE needs >= 48 h of maintenance per 32 days (days x duration_hours >= 12), got {days} x {self.duration_hours}",
            )
        return self


class Gke(StrictModel):
    release_channel: Literal["RAPID", "REGULAR", "STABLE"] = Field(
        default="REGULAR", description="GKE release channel that drives control plane and node upgrades."
    )
    regional: bool = Field(
        default=True, description="Regional control plane (three replicas) instead of zonal. Changing it recreates the cluster."
    )
    node_pools: list[NodePool] = Field(
        default_factory=lambda: [NodePool(name="default-pool-v1")],
        min_length=1,
        description="Node pools; the default pool GKE creates is removed.",
    )
    maintenance: GkeMaintenance = Field(default_factory=GkeMaintenance, description="When GKE may upgrade.")
    deletion_protection: bool = Field(default=True, description="Refuse `terraform destroy` of the cluster.")

    @field_validator("node_pools")
    @classmethod
    def _unique_pool_names(cls, pools: list[NodePool]) -> list[NodePool]:
        names = [pool.name for pool in pools]
        for name in names:
            if names.count(name) > 1:
                raise fail(f"node pool names must be unique, got {name!r} twice")
        return pools


# --- Cloud SQL -----------------------------------------------------------------------------------

TIER_RE = re.compile(r"^db-custom-(\d+)-(\d+)$|^db-(f1-micro|g1-small)$|^db-(n1|n2|e2)-(standard|highmem)-\d+$")


class DatabaseBackups(StrictModel):
    enabled: bool = Field(default=True, description="Daily automated backups.")
    start_time: time = Field(default=time(1, 0), description="Start of the daily backup window, HH:MM UTC.")
    point_in_time_recovery: bool = Field(default=True, description="Keep WAL for point-in-time recovery.")
    retained_backups: int = Field(default=7, ge=1, le=365, description="How many daily backups to keep.")
    transaction_log_retention_days: int = Field(
        default=7, ge=1, le=7, description="Days of WAL kept for point-in-time recovery (1-7)."
    )

    @field_validator("point_in_time_recovery")
    @classmethod
    def _pitr_needs_backups(cls, value: bool, info) -> bool:
        if value and info.data.get("enabled") is False:
            raise fail("needs backups enabled (enabled: true), got true")
        return value


class DatabaseMaintenance(StrictModel):
    day: int = Field(default=7, ge=1, le=7, description="Day of week for Cloud SQL maintenance, 1 = Monday.")
    hour: int = Field(default=3, ge=0, le=23, description="Hour (UTC) maintenance may start.")


# Set by the platform on every instance (stacks/database.py holds the values and why they never vary);
# an environment may add flags but not override these. A test holds this list and the construct equal.
FIXED_DATABASE_FLAGS = frozenset({
    "cloudsql.iam_authentication", "log_checkpoints", "log_connections", "log_disconnections", "log_lock_waits",
    "log_temp_files", "log_min_messages", "log_min_error_statement", "log_min_duration_statement", "log_statement",
    "cloudsql.enable_pgaudit", "pgaudit.log",
})


class Database(StrictModel):
    postgres_version: int = Field(default=17, ge=13, le=18, description="PostgreSQL major version (13-18).")
    tier: str = Field(
        default="db-custom-2-7680",
        description="Machine tier: db-custom-<vCPUs>-<MiB>, db-f1-micro, db-g1-small or db-n1-standard-N.",
    )
    high_availability: bool = Field(default=False, description="Regional (HA) instance with a standby in another zone.")
    disk_size_gb: int = Field(default=20, ge=10, le=65536, description="Initial SSD size in GB; it grows automatically.")
    disk_autoresize_limit_gb: int = Field(default=0, ge=0, description="Upper bound for automatic growth; 0 = none.")
    backups: DatabaseBackups = Field(default_factory=DatabaseBackups, description="Backups and point-in-time recovery.")
    maintenance: DatabaseMaintenance = Field(default_factory=DatabaseMaintenance, description="Maintenance window.")
    deletion_protection: bool = Field(default=True, description="Refuse deletion of the instance.")
    flags: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_.]*$")], str] = Field(
        default_factory=dict,
        description="Extra PostgreSQL flags (e.g. max_connections), added to the platform's IAM and logging flags "
        "(which cannot be overridden).",
    )

    @field_validator("flags")
    @classmethod
    def _no_fixed_flags(cls, flags: dict[str, str]) -> dict[str, str]:
        for key in sorted(FIXED_DATABASE_FLAGS & set(flags)):
            raise fail_at(key, "fixed by the platform (IAM login and audit logging rely on it), remove it")
        return flags

    @field_validator("tier")
    @classmethod
    def _tier_format(cls, value: str) -> str:
        match = TIER_RE.match(value)
        if not match:
            raise fail(f"must look like db-custom-<vCPUs>-<MiB> (e.g. db-custom-2-7680), got {value!r}")
        if match.group(1):
            cpus, mib = int(match.group(1)), int(match.group(2))
            if cpus != 1 and cpus % 2:
                raise fail(f"vCPUs must be 1 or an even number, got {value!r}")
            if mib % 256 or not (921 * cpus <= mib <= 6656 * cpus):
                raise fail(f"memory must be a multiple of 256 MiB and 0.9-6.5 GiB per vCPU, got {value!r}")
        return value


# --- Logging -------------------------------------------------------------------------------------


class LogSink(StrictModel):
    name: str = Field(pattern=RESOURCE_NAME, max_length=40, description="Short name of the sink (airflow, gke, ...).")
    filter: str = Field(min_length=1, description="Cloud Logging filter selecting the entries this sink routes.")


class LifecycleRule(StrictModel):
    age_days: int = Field(ge=1, description="Object age in days after which the class changes.")
    storage_class: Literal["NEARLINE", "COLDLINE", "ARCHIVE"] = Field(description="Colder class to move to.")


def default_sinks(namespace: str = "airflow") -> list[dict[str, str]]:
    """The sinks an environment gets when it names none: Airflow's namespace, the cluster, Cloud SQL."""
    return [
        {"name": "airflow", "filter": f'resource.type="k8s_container" AND resource.labels.namespace_name="{namespace}"'},
        {"name": "gke", "filter": 'resource.type=("gke_cluster" OR "k8s_cluster" OR "gke_nodepool")'},
        {"name": "cloudsql", "filter": 'resource.type="cloudsql_database"'},
    ]


class LogArchive(StrictModel):
    retention_days: int | None = Field(
        default=365, ge=1, description="Objects cannot be deleted before this age; null = no retention policy."
    )
    retention_locked: bool = Field(
        default=False, description="Lock the retention policy. IRREVERSIBLE: the bucket keeps it forever."
    )
    lifecycle: list[LifecycleRule] = Field(
        default_factory=lambda: [
            LifecycleRule(age_days=30, storage_class="NEARLINE"),
            LifecycleRule(age_days=90, storage_class="COLDLINE"),
            LifecycleRule(age_days=365, storage_class="ARCHIVE"),
        ],
        description="Move archived logs to colder storage classes as they age.",
    )

    @field_validator("retention_locked")
    @classmethod
    def _lock_needs_period(cls, value: bool, info) -> bool:
        if value and info.data.get("retention_days") is None and "retention_days" in info.data:
            raise fail("needs retention_days to be set (a lock without a period locks nothing), got true")
        return value


class Logging(StrictModel):
    sinks: list[LogSink] = Field(
        default_factory=lambda: [LogSink(**sink) for sink in default_sinks()],
        description="Log sinks; each routes its filter to the archive bucket and to the log bucket. "
        "The default's airflow sink follows airflow.namespace.",
    )
    archive: LogArchive = Field(default_factory=LogArchive, description="GCS bucket keeping a copy of all routed logs.")
    log_bucket_retention_days: int = Field(
        default=30, ge=1, le=3650, description="Retention of the Cloud Logging bucket (searchable logs)."
    )
    task_logs_retention_days: int = Field(
        default=90, ge=1, description="Age after which Airflow task logs (remote logging bucket) are deleted."
    )

    @field_validator("sinks")
    @classmethod
    def _unique_sinks(cls, sinks: list[LogSink]) -> list[LogSink]:
        names = [sink.name for sink in sinks]
        for name in names:
            if names.count(name) > 1:
                raise fail(f"sink names must be unique, got {name!r} twice")
        return sinks


# --- Airflow -------------------------------------------------------------------------------------


class Replicas(StrictModel):
    api_server: int = Field(default=1, ge=1, le=20, description="API server (UI) replicas.")
    scheduler: int = Field(default=1, ge=1, le=10, description="Scheduler replicas (Airflow 3 runs several safely).")
    dag_processor: int = Field(default=1, ge=1, le=10, description="DAG processor replicas.")
    triggerer: int = Field(default=1, ge=0, le=10, description="Triggerer replicas (0 disables deferrable tasks).")
    workers: int = Field(default=1, ge=0, le=100, description="Celery workers (CeleryExecutor only).")


class DagSource(StrictModel):
    repo_url: str | None = Field(
        default=None,
        description="Git repository with the company's DAGs (URL or local path); null = the project's dags/ folder.",
    )
    branch: str = Field(default="main", min_length=1, description="Branch the DAG bundle tracks.")
    subdir: str = Field(default="", description="Folder inside the repository holding the DAGs.")
    refresh_seconds: int = Field(default=60, ge=5, description="How often the bundle is refreshed from git.")
    git_conn_id: str | None = Field(
        default=None,
        pattern=r"^[a-z][a-z0-9_]*$",
        description="Airflow connection (in Secret Manager under the connections prefix) holding the HTTPS token "
        "or the SSH deploy key for repo_url; null for a public repository. Required for an SSH URL.",
    )

    @field_validator("subdir")
    @classmethod
    def _relative_subdir(cls, value: str) -> str:
        if value.startswith("/") or ".." in Path(value).parts:
            raise fail(f"must be a path inside the repository, got {value!r}")
        return value

    @model_validator(mode="after")
    def _ssh_needs_a_key(self) -> DagSource:
        ssh = (self.repo_url or "").startswith(("git@", "ssh://"))
        if ssh and not self.git_conn_id:
            raise fail_at("git_conn_id", "an SSH repo_url needs the connection holding its deploy key")
        return self


class Canary(StrictModel):
    interval_minutes: int = Field(default=5, ge=1, le=60, description="How often system_canary runs.")
    max_age_minutes: int = Field(
        default=15, ge=2, description="Scheduler probe fails when no canary run was created for this long."
    )

    @field_validator("max_age_minutes")
    @classmethod
    def _longer_than_interval(cls, value: int, info) -> int:
        interval = info.data.get("interval_minutes")
        if interval is not None and value < 2 * interval:
            raise fail(f"must be >= 2 x interval_minutes ({2 * interval}) to avoid false restarts, got {value}")
        return value


class QueuedWatch(StrictModel):
    warn_after_minutes: int = Field(
        default=15, ge=1, description="system_queued_watch alerts on tasks queued longer than this."
    )


ConfigValue = str | int | float | bool


class Ui(StrictModel):
    """Where people reach the UI on GKE: a public host, or nothing public at all."""

    host: str | None = Field(
        default=None,
        pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]{2,63}$",
        description="DNS name of the UI (e.g. airflow.acme.com), served by GKE Ingress with a Google-managed "
        "certificate on the stack's ui_address; null = internal only (no Ingress, reached with a port-forward).",
    )


class Airflow(StrictModel):
    version: str = Field(default="3.3.2", pattern=r"^3\.\d+\.\d+$", description="Apache Airflow version (3.x).")
    executor: Literal["LocalExecutor", "KubernetesExecutor", "CeleryExecutor"] = Field(
        default="KubernetesExecutor", description="Executor; LocalExecutor locally, KubernetesExecutor on GKE."
    )
    namespace: str = Field(default="airflow", pattern=RESOURCE_NAME, description="Kubernetes namespace.")
    replicas: Replicas = Field(default_factory=Replicas, description="Replica counts per component.")
    parallelism: int = Field(default=32, ge=1, description="Maximum task instances running at once.")
    dags: DagSource = Field(default_factory=DagSource, description="Where DAGs come from.")
    task_queued_timeout_minutes: int = Field(
        default=30, ge=1, description="Tasks queued longer than this are failed and retried by the scheduler."
    )
    ui: Ui = Field(default_factory=Ui, description="How the UI is reached on GKE (ignored locally).")
    canary: Canary = Field(default_factory=Canary, description="The scheduler canary DAG and its probe.")
    queued_watch: QueuedWatch = Field(default_factory=QueuedWatch, description="The stuck-queued watch DAG.")
    config_overrides: dict[
        Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")],
        dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")], ConfigValue],
    ] = Field(
        default_factory=dict,
        description="Raw airflow.cfg overrides, section -> key -> value; applied last.",
    )


class Alerts(StrictModel):
    slack_channel: str | None = Field(
        default=None, pattern=r"^#[a-z0-9][a-z0-9_-]{0,79}$", description="Slack channel for ETL progress, e.g. #etl."
    )
    pagerduty_service: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9][a-z0-9_-]*$",
        description="PagerDuty service (routing key stored in Secret Manager) paged after the last retry.",
    )


class Local(StrictModel):
    folder: str = Field(default=".local", description="Where local data, logs and pid files live (git-ignored).")
    postgres_port: int = Field(default=55432, ge=1024, le=65535, description="Port of the embedded PostgreSQL.")
    api_port: int = Field(default=8080, ge=1024, le=65535, description="Port of the Airflow API server and UI.")
    scheduler_health_port: int = Field(
        default=8974, ge=1024, le=65535, description="Port of the scheduler's own health check server."
    )
    s3_port: int = Field(default=9090, ge=1024, le=65535, description="Port of the local S3 endpoint (moto's server).")
    gcs_port: int = Field(
        default=9023, ge=1024, le=65535, description="Port of the local GCS endpoint (emulator; also holds task logs)."
    )

    @model_validator(mode="after")
    def _distinct_ports(self) -> Local:
        seen: dict[int, str] = {}
        for key in (name for name in type(self).model_fields if name.endswith("_port")):
            port = getattr(self, key)
            if port in seen:
                raise fail_at(key, f"must differ from {seen[port]} ({port}), got {port}")
            seen[port] = key
        return self


# --- The cluster side: what the official chart renders ------------------------------------------

CPU = r"^([1-9][0-9]*m|[0-9]+(\.[0-9]+)?)$"
MEMORY = r"^[1-9][0-9]*(Mi|Gi)$"


class ChartPin(StrictModel):
    version: str = Field(default="1.22.0", pattern=r"^\d+\.\d+\.\d+$", description="Official Apache Airflow chart version.")
    sha256: str = Field(
        default="1f7d1dfe3d58e2c54899950aba907a43625a18c8b6fb3c54760c21592129a5b6",
        pattern=r"^[0-9a-f]{64}$",
        description="sha256 of the chart package; a package with another digest is refused.",
    )


class Resources(StrictModel):
    cpu: str = Field(default="250m", pattern=CPU, description="CPU request (e.g. 250m, 1).")
    memory: str = Field(default="1Gi", pattern=MEMORY, description="Memory request (e.g. 512Mi, 2Gi).")
    cpu_limit: str = Field(default="1", pattern=CPU, description="CPU limit.")
    memory_limit: str = Field(default="2Gi", pattern=MEMORY, description="Memory limit; the pod is killed above it.")


class ComponentResources(StrictModel):
    api_server: Resources = Field(default_factory=Resources, description="Each API server pod.")
    scheduler: Resources = Field(default_factory=Resources, description="Each scheduler pod.")
    dag_processor: Resources = Field(default_factory=Resources, description="Each DAG processor pod.")
    triggerer: Resources = Field(default_factory=lambda: Resources(memory="512Mi", memory_limit="1Gi"), description="Each triggerer pod.")
    workers: Resources = Field(
        default_factory=Resources, description="Each task pod (KubernetesExecutor) or Celery worker (CeleryExecutor)."
    )


class Image(StrictModel):
    repository: str | None = Field(
        default=None, description="Image repository; null = the platform image in the environment's Artifact Registry."
    )
    tag: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", description="Image tag; null = the Airflow version."
    )


class Kubernetes(StrictModel):
    version: str = Field(
        default="1.33", pattern=r"^1\.\d+$", description="Kubernetes minor version of the cluster; manifests are validated for it."
    )
    chart: ChartPin = Field(default_factory=ChartPin, description="The official chart, pinned by version and digest.")
    image: Image = Field(default_factory=Image, description="The Airflow image every component and task pod runs.")
    resources: ComponentResources = Field(default_factory=ComponentResources, description="Requests and limits per component.")


# --- Google sign-in (FAB auth manager on GKE) ----------------------------------------------------

# `alice@acme.com` (one Google account) or `@acme.com` (everyone signed in with that domain).
Principal = Annotated[str, Field(pattern=r"^([A-Za-z0-9._%+-]+)?@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")]


class SignIn(StrictModel):
    """Who gets which Airflow role after signing in with Google; anyone else signs in to no access."""

    admin: list[Principal] = Field(default_factory=list, description="Accounts or @domains with the Admin role.")
    op: list[Principal] = Field(default_factory=list, description="Accounts or @domains with the Op role.")
    user: list[Principal] = Field(default_factory=list, description="Accounts or @domains with the User role.")
    viewer: list[Principal] = Field(default_factory=list, description="Accounts or @domains with the Viewer role.")


# --- Objects inside Airflow: pools, variables, connections (`invoke bootstrap`) ------------------

SECRET_ID = r"^[A-Za-z0-9_-]{1,255}$"
# Keys Airflow masks in API answers: a value under them is a secret, so it belongs in Secret Manager.
SECRET_LOOKING = ("password", "passwd", "passphrase", "secret", "token", "api_key", "apikey", "private_key",
                  "authorization", "keyfile_dict", "credential")


class PoolSpec(StrictModel):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,256}$", description="Pool name tasks refer to (`pool=`).")
    slots: int = Field(ge=-1, description="How many task instances may run in the pool at once; -1 = unlimited.")
    description: str = Field(default="", description="Shown in the UI's pool list.")
    include_deferred: bool = Field(default=False, description="Deferred tasks count against the pool's slots.")


class VariableSpec(StrictModel):
    key: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,250}$", description="Variable key (`Variable.get(key)`).")
    value: str | None = Field(default=None, description="Plain value; never a secret (use `secret`).")
    secret: str | None = Field(
        default=None, pattern=SECRET_ID,
        description="Secret Manager secret id (in the environment's project) whose latest version is the value.",
    )
    description: str = Field(default="", description="Shown in the UI's variable list.")

    @model_validator(mode="after")
    def _one_source(self) -> VariableSpec:
        if (self.value is None) == (self.secret is None):
            raise fail(f"variable {self.key!r}: give exactly one of `value` or `secret`")
        if self.value is not None and any(word in self.key.lower() for word in SECRET_LOOKING):
            # Airflow masks such values in its answers, too: a secret by name belongs in Secret Manager.
            raise fail(f"variable {self.key!r} looks like a secret: keep its value in Secret Manager (`secret`)")
        return self


class ConnectionSpec(StrictModel):
    conn_id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,250}$", description="Connection id hooks refer to.")
    conn_type: str = Field(min_length=1, description="Connection type, e.g. postgres, google_cloud_platform.")
    host: str | None = Field(default=None, description="Host name or URL.")
    port: int | None = Field(default=None, ge=1, le=65535, description="Port.")
    schema_: str | None = Field(default=None, alias="schema", description="Schema or database name.")
    login: str | None = Field(default=None, description="User name.")
    password_secret: str | None = Field(
        default=None, pattern=SECRET_ID,
        description="Secret Manager secret id (in the environment's project) whose latest version is the password.",
    )
    extra: dict[str, Any] = Field(default_factory=dict, description="Extra fields; never a secret.")
    description: str = Field(default="", description="Shown in the UI's connection list.")

    @field_validator("extra")
    @classmethod
    def _no_secret_in_extra(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in value:
            if any(word in key.lower() for word in SECRET_LOOKING):
                raise fail(f"extra.{key} looks like a secret: keep secrets in Secret Manager (password_secret)")
        return value


def _unique(items: list, attribute: str, what: str) -> list:
    seen = [getattr(item, attribute) for item in items]
    duplicates = sorted({name for name in seen if seen.count(name) > 1})
    if duplicates:
        raise fail(f"{what} declared twice: {', '.join(duplicates)}")
    return items


class Bootstrap(StrictModel):
    pools: list[PoolSpec] = Field(
        default_factory=list, description="Pools to create (the canary's own pool is always created)."
    )
    variables: list[VariableSpec] = Field(default_factory=list, description="Airflow variables to create.")
    connections: list[ConnectionSpec] = Field(default_factory=list, description="Airflow connections to create.")
    ready_timeout_minutes: int = Field(
        default=15, ge=1, le=120, description="How long bootstrap waits for the API server and the first canary run."
    )

    @field_validator("pools")
    @classmethod
    def _unique_pools(cls, value: list[PoolSpec]) -> list[PoolSpec]:
        return _unique(value, "name", "pool")

    @field_validator("variables")
    @classmethod
    def _unique_variables(cls, value: list[VariableSpec]) -> list[VariableSpec]:
        return _unique(value, "key", "variable")

    @field_validator("connections")
    @classmethod
    def _unique_connections(cls, value: list[ConnectionSpec]) -> list[ConnectionSpec]:
        return _unique(value, "conn_id", "connection")


# --- Spark (pipelines of kind `jobs:`) -----------------------------------------------------------


class SparkEmr(StrictModel):
    conn_id: str = Field(
        default="emr_spark",
        pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,249}$",
        description="Airflow AWS connection whose extra holds application_id and execution_role_arn.",
    )
    scripts_uri: str = Field(
        pattern=r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$",
        description="s3:// folder the DAG repository is synced to; a job's script path is appended to it.",
    )


class Spark(StrictModel):
    """Where the Spark jobs of `jobs:` pipelines run: the environment's choice, never the pipeline file's."""

    target: Literal["local", "dataproc", "emr"] = Field(
        description="local: spark-submit from the pyspark wheel; dataproc: Dataproc Serverless batches; emr: EMR Serverless job runs."
    )
    local_master: str = Field(
        default="local[2]", pattern=r"^local\[(\d+|\*)\]$", description="Spark master for target local, like local[2]."
    )
    jars: list[str] = Field(
        default_factory=list,
        description=(
            "Extra jars for every job (the PostgreSQL JDBC driver). Local: paths (default Debian's"
            " /usr/share/java/postgresql.jar); dataproc: gs:// URIs or paths in the Spark staging bucket;"
            " emr: s3:// URIs or paths under emr.scripts_uri."
        ),
    )
    dataproc_runtime_version: str = Field(
        default="2.3", pattern=r"^\d+\.\d+$", description="Dataproc Serverless runtime version (target dataproc)."
    )
    emr: SparkEmr | None = Field(default=None, description="EMR Serverless application connection (target emr).")

    @model_validator(mode="before")
    @classmethod
    def _local_jdbc_driver_by_default(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("target") == "local" and "jars" not in data:
            return {**data, "jars": ["/usr/share/java/postgresql.jar"]}  # Debian's libpostgresql-jdbc-java
        return data

    @model_validator(mode="after")
    def _emr_needs_its_section(self) -> Spark:
        if self.target == "emr" and self.emr is None:
            raise fail_at("emr", "required for target emr")
        return self


# --- The environment -----------------------------------------------------------------------------


class Environment(StrictModel):
    """One environment, as read from environments/<name>.yaml."""

    name: str = Field(description="The environment's name: its file name without .yaml.")
    runtime: Literal["gke", "local"] = Field(
        description="gke: GCP infrastructure and a cluster; local: everything on this machine."
    )
    protected: bool = Field(
        default=False,
        description="Deploys need a clean tree on main and a typed confirmation; destroy needs --force.",
    )
    labels: Labels = Field(default_factory=dict, description="Labels put on every GCP resource that takes them.")
    gcp: Gcp | None = Field(default=None, description="Project, region and state bucket (runtime gke only).")
    network: Network = Field(default_factory=Network, description="VPC ranges and control-plane access.")
    gke: Gke = Field(default_factory=Gke, description="The GKE cluster and its node pools.")
    database: Database = Field(default_factory=Database, description="Cloud SQL for PostgreSQL (metadata DB).")
    logging: Logging = Field(default_factory=Logging, description="Log sinks, archive bucket and retention.")
    airflow: Airflow = Field(default_factory=Airflow, description="Airflow itself.")
    alerts: Alerts = Field(default_factory=Alerts, description="Where alerts go.")
    kubernetes: Kubernetes = Field(default_factory=Kubernetes, description="The cluster side: chart pin, image, resources (runtime gke).")
    local: Local = Field(default_factory=Local, description="Ports and folder of the local runtime (runtime local).")
    signin: SignIn = Field(
        default_factory=SignIn, description="Google accounts and domains per Airflow role (runtime gke)."
    )
    bootstrap: Bootstrap = Field(
        default_factory=Bootstrap, description="Pools, variables and connections `invoke bootstrap` creates in Airflow."
    )

    spark: Spark | None = Field(default=None, description="Spark jobs: where they run (omit to disable Spark).")

    @model_validator(mode="before")
    @classmethod
    def _sinks_follow_namespace(cls, data: Any) -> Any:
        """Without sinks of its own, an environment's airflow sink selects its own namespace."""
        if not isinstance(data, dict):
            return data
        logging, airflow = data.get("logging", {}), data.get("airflow", {})
        if isinstance(logging, dict) and "sinks" not in logging and isinstance(airflow, dict):
            namespace = airflow.get("namespace", Airflow.model_fields["namespace"].default)
            if isinstance(namespace, str):
                return {**data, "logging": {**logging, "sinks": default_sinks(namespace)}}
        return data

    @model_validator(mode="after")
    def _runtime_sections(self) -> Environment:
        if self.runtime == "gke" and self.gcp is None:
            raise fail_at("gcp", "required for runtime gke")
        if self.runtime == "local" and self.gcp is not None:
            raise fail_at("gcp", "only used with runtime gke, remove it")
        if self.spark is not None and self.spark.target == "dataproc" and self.runtime != "gke":
            raise fail_at("spark", "target dataproc needs runtime gke (a GCP project)")
        return self


# --- Loading -------------------------------------------------------------------------------------


def parse_environment(name: str, data: Any, source: str) -> Environment:
    """Validate already-loaded YAML `data` for environment `name`; `source` names the file in errors."""
    if not ENV_NAME_RE.match(name):
        raise ConfigError(
            f"{source}: environment name must be 2-15 chars of lowercase letters, digits and dashes, got {name!r}"
        )
    if data is None:
        raise ConfigError(f"{source}: the file is empty; it needs at least `runtime: gke` or `runtime: local`")
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: must be a mapping of keys to values, got {type(data).__name__}")
    if "name" in data:
        raise ConfigError(f"{source}: unknown key 'name' (an environment's name is its file's name, {name!r})")
    try:
        return Environment.model_validate({**data, "name": name})
    except ValidationError as exc:
        lines = [f"{source}: {explain(error, Environment, hidden=('name',)).text}" for error in exc.errors()]
        raise ConfigError("\n".join(dict.fromkeys(lines))) from None


def environment_path(name_or_path: str | Path, root: Path | None = None) -> Path:
    """environments/<name>.yaml for a name, or the path itself when given one."""
    text = str(name_or_path)
    if text.endswith((".yaml", ".yml")) or "/" in text:
        return Path(text)
    return (root or ENVIRONMENTS_DIR) / f"{text}.yaml"


def load_environment(name_or_path: str | Path, root: Path | None = None) -> Environment:
    """Read and validate one environment; raises ConfigError with one line per problem."""
    path = environment_path(name_or_path, root)
    source = shown_path(path)
    if not path.is_file():
        known = ", ".join(list_environments(root or path.parent)) or "none"
        raise ConfigError(f"{source}: no such environment file (known environments: {known})")
    try:
        doc = Document(path, shown_as=source)
        data = doc.load()
    except DocumentError as exc:
        raise ConfigError(str(exc.problem)) from None
    if doc.duplicates:
        raise ConfigError("\n".join(str(problem) for problem in doc.duplicates))
    return parse_environment(path.stem, data, source)


def list_environments(root: Path | None = None) -> list[str]:
    """Names of the environment files, sorted."""
    folder = root or ENVIRONMENTS_DIR
    return sorted(p.stem for p in folder.glob("*.yaml"))


def load_all(runtime: str | None = None, root: Path | None = None) -> list[Environment]:
    """Every environment (optionally only one runtime); all files are checked before any is returned."""
    envs, errors = [], []
    for name in list_environments(root):
        try:
            envs.append(load_environment(name, root))
        except ConfigError as exc:
            errors.append(str(exc))
    if errors:
        raise ConfigError("\n".join(errors))
    return [env for env in envs if runtime is None or env.runtime == runtime]
