"""The GCP side of an environment: project placement, network, GKE, Cloud SQL and logging (read by stacks/)."""

from __future__ import annotations

import ipaddress
import re
from datetime import time
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from infra.config.base import RESOURCE_NAME, Labels, StrictModel
from platform_schema import fail, fail_at


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
