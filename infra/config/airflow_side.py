"""The Airflow side of an environment: Airflow itself, alerts, the local runtime, the chart's cluster side,
Google sign-in and where Spark jobs run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from infra.config.base import RESOURCE_NAME, StrictModel
from platform_schema import fail, fail_at


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
        default=None, pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", description="Image tag; null = the content tag `invoke image` pushes (a hash of the build inputs)."
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
