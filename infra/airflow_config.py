"""The one Airflow configuration builder: environment model → Airflow settings and probe definitions.

Everything about how Airflow is configured is decided here, once, as data:

    settings = build(env)                       # renderer-independent: config keys, connections, components
    env_vars = render_env(settings, secrets)    # local renderer: AIRFLOW__SECTION__KEY variables

`AirflowSettings.config` maps (section, key) to a string value; `secrets` names the values that come
from a secret store (a local file here, Secret Manager / Kubernetes secrets on GKE) instead of being
written in clear. Each `Component` carries its command and its probes in exactly the terms the official
chart accepts (`Component.chart_probes()` / `Probe.to_chart()` for the chart values, `Probe.to_k8s()` for
the container probe the chart renders from them), so the kubelet on GKE and the local supervisor run
the very same definitions.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from infra import naming
from infra.config import ROOT, Environment

DAGS_DIR = ROOT / "dags"
# Where the platform image (Dockerfile) carries the system DAGs (the platform bundle on GKE) and the
# Airflow-side packages (its PYTHONPATH); tests/gke/test_image_contents.py holds the two files together.
IMAGE_DAGS_DIR = "/opt/platform/system_dags"
IMAGE_LIB_DIR = "/opt/platform/lib"
# Scratch space on GKE: the only writable place besides the logs volume (read-only root filesystem).
GKE_SCRATCH = "/tmp"
ADMIN_USER = "admin"
SIMPLE_AUTH = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
FAB_AUTH = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
SECRET_MANAGER_BACKEND = "airflow.providers.google.cloud.secrets.secret_manager.CloudSecretManagerBackend"
LOCAL_BUNDLE = "airflow.dag_processing.bundles.local.LocalDagBundle"
GIT_BUNDLE = "airflow.providers.git.bundles.git.GitDagBundle"
# The Airflow options whose values are generated secrets, and the purpose (naming.secret_id, the
# generator in infra.secret_values) of each.
SECRET_PURPOSES = {("core", "fernet_key"): "fernet_key", ("api", "secret_key"): "api_secret_key", ("api_auth", "jwt_secret"): "jwt_secret"}
# Google's front ends (load balancer proxies and health checks) reach the API server from these ranges.
GOOGLE_FRONT_ENDS = ("35.191.0.0/16", "130.211.0.0/22")


@dataclass(frozen=True)
class Runtime:
    """What differs between runtimes (never between environments of one runtime): who signs in, and
    which peers may tell the API server the request's real scheme and client (X-Forwarded-*)."""

    auth_manager: str
    trusted_proxies: tuple[str, ...]


RUNTIMES = {
    # Locally: the simple auth manager with a generated password; nothing sits in front of the API server.
    "local": Runtime(SIMPLE_AUTH, trusted_proxies=()),
    # GKE: Google sign-in through FAB (infra/signin.py writes its webserver_config.py), no password at
    # all; the load balancer terminates HTTPS, so the OAuth redirect URI is built from its headers.
    "gke": Runtime(FAB_AUTH, trusted_proxies=GOOGLE_FRONT_ENDS),
}
# Connections the example pipelines use, each a database of the embedded PostgreSQL locally.
PIPELINE_DATABASES = ("sample_source", "warehouse")
# Task logs go to gs://<task-logs bucket>/<this>/ on every runtime (Airflow's remote logging).
TASK_LOG_FOLDER = "tasks"


# --- Probes, as the official chart can express them -----------------------------------------------
# Chart 1.22.0 takes `command` and four timings for exec probes (scheduler liveness and startup,
# DAG processor and triggerer liveness) and fixes the API server's probes to one HTTP path, taking
# only the timings. Nothing here can say more than that, so the local supervisor runs exactly what
# the kubelet will run on GKE.

API_HEALTH_PATH = "/api/v2/monitor/health"  # fixed by the chart; answers whatever the scheduler's state


@dataclass(frozen=True)
class Exec:
    """A command run inside the component's container; it must exit 0 within the probe's timeout."""

    command: tuple[str, ...]


@dataclass(frozen=True)
class HttpGet:
    """GET `API_HEALTH_PATH` on the API server's port: the chart fixes the path, so it is not a field."""

    port: int
    path: ClassVar[str] = API_HEALTH_PATH


@dataclass(frozen=True)
class Probe:
    """One probe with the kubelet's semantics: wait `initial_delay_seconds`, then every `period_seconds`;
    a run longer than `timeout_seconds` fails; `failure_threshold` failures in a row trip it."""

    action: Exec | HttpGet
    initial_delay_seconds: int
    period_seconds: int
    timeout_seconds: int
    failure_threshold: int

    def timings(self) -> dict[str, int]:
        return {
            "initialDelaySeconds": self.initial_delay_seconds,
            "periodSeconds": self.period_seconds,
            "timeoutSeconds": self.timeout_seconds,
            "failureThreshold": self.failure_threshold,
        }

    def to_chart(self) -> dict:
        """The chart's value for this probe (e.g. `scheduler.livenessProbe`): `command` for exec probes,
        and the four timings; the API server's path and port come from the chart itself."""
        if isinstance(self.action, Exec):
            return {"command": list(self.action.command), **self.timings()}
        return self.timings()

    def to_k8s(self) -> dict:
        """The container probe the chart renders from `to_chart()`: what the local supervisor runs."""
        if isinstance(self.action, Exec):
            action = {"exec": {"command": list(self.action.command)}}
        else:
            action = {"httpGet": {"path": self.action.path, "port": self.action.port}}
        return {**action, **self.timings()}


# Which probes the chart renders for which component, and of which kind (anything else it cannot say).
CHART_PROBES = {
    "api-server": (HttpGet, ("startup", "liveness", "readiness")),
    "scheduler": (Exec, ("startup", "liveness")),
    "dag-processor": (Exec, ("liveness",)),
    "triggerer": (Exec, ("liveness",)),
}
# Local-only components (the object storage endpoints): no chart values; probed like the others.
LOCAL_PROBES = {"s3": (Exec, ("startup", "liveness")), "gcs": (Exec, ("startup", "liveness"))}
CHART_PROBE_KEYS = {"startup": "startupProbe", "liveness": "livenessProbe", "readiness": "readinessProbe"}


@dataclass(frozen=True)
class Component:
    """An Airflow process: its command, the config sections it reads, and how it is probed.

    One liveness probe, as Kubernetes allows; liveness starts once `startup` has succeeded. `readiness`
    only routes traffic on GKE (the API server's Service); it never restarts anything.
    """

    name: str
    command: tuple[str, ...]
    sections: frozenset[str]
    liveness: Probe
    startup: Probe | None = None
    readiness: Probe | None = None
    # Process variables this component alone needs (not Airflow options), as (name, value) pairs.
    environment: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        kind, allowed = {**CHART_PROBES, **LOCAL_PROBES}[self.name]
        for which, probe in self.probes().items():
            if which not in allowed or not isinstance(probe.action, kind):
                raise ValueError(f"{self.name}: the chart cannot express a {type(probe.action).__name__} {which} probe")

    def probes(self) -> dict[str, Probe]:
        """The probes that are set, by kind ("startup", "liveness", "readiness")."""
        found = {"startup": self.startup, "liveness": self.liveness, "readiness": self.readiness}
        return {which: probe for which, probe in found.items() if probe is not None}

    def chart_probes(self) -> dict[str, dict]:
        """This component's probes as chart values: {"livenessProbe": {...}, "startupProbe": {...}, ...}."""
        return {CHART_PROBE_KEYS[which]: probe.to_chart() for which, probe in self.probes().items()}


@dataclass(frozen=True)
class AirflowSettings:
    """Airflow's configuration for one environment, independent of how it is rendered."""

    env_name: str
    config: dict[tuple[str, str], str]
    secrets: dict[tuple[str, str], str]  # (section, key) -> name of the secret holding the value
    connections: dict[str, str]  # connection id -> URI
    components: tuple[Component, ...]
    admin_user: str = ADMIN_USER
    python_path: tuple[str, ...] = field(default=())
    environment: dict[str, str] = field(default_factory=dict)  # plain process variables (not Airflow config)

    def get(self, section: str, key: str) -> str | None:
        return self.config.get((section, key))

    def component(self, name: str) -> Component:
        for component in self.components:
            if component.name == name:
                return component
        raise KeyError(name)


# --- Building ------------------------------------------------------------------------------------


def local_folder(env: Environment) -> Path:
    """The local runtime's folder (data, logs, pid files), relative paths from the project root."""
    folder = Path(env.local.folder).expanduser()
    return folder if folder.is_absolute() else ROOT / folder


def database_url(env: Environment, database: str, driver: str = "postgresql+psycopg2") -> str:
    """Local PostgreSQL: trust authentication on loopback only, so the URL carries no password."""
    return f"{driver}://postgres@127.0.0.1:{env.local.postgres_port}/{database}"


def _bundles(env: Environment, folder: Path | None) -> list[dict]:
    dags = env.airflow.dags
    # The platform's own DAGs (canary, queued watch, pipeline factory) always come from the project.
    platform_path = str(DAGS_DIR) if folder is not None else IMAGE_DAGS_DIR
    bundles = [{"name": "platform", "classpath": LOCAL_BUNDLE, "kwargs": {"path": platform_path, "refresh_interval": 30}}]
    if dags.repo_url:
        repo_url = dags.repo_url
        if folder is not None and "://" not in repo_url and not repo_url.startswith("git@"):
            repo_url = str((ROOT / repo_url).resolve()) if not Path(repo_url).is_absolute() else repo_url
        kwargs = {"repo_url": repo_url, "tracking_ref": dags.branch, "refresh_interval": dags.refresh_seconds}
        if dags.subdir:
            kwargs["subdir"] = dags.subdir
        if dags.git_conn_id:  # HTTPS token or SSH deploy key, from the secrets backend
            kwargs["git_conn_id"] = dags.git_conn_id
        bundles.append({"name": "dags", "classpath": GIT_BUNDLE, "kwargs": kwargs})
    return bundles


def _platform_keys(env: Environment) -> dict[str, str]:
    """The `[platform]` section the DAG side reads (never `infra/`): canary, queued watch, alerts."""
    a = env.airflow
    keys = {
        "environment": env.name,
        "canary_interval_minutes": str(a.canary.interval_minutes),
        "canary_max_age_minutes": str(a.canary.max_age_minutes),
        "queued_warn_minutes": str(a.queued_watch.warn_after_minutes),
        "task_queued_timeout_minutes": str(a.task_queued_timeout_minutes),
        "canary_pool": "system_canary",
    }
    if env.runtime == "local":
        keys["api_url"] = f"http://127.0.0.1:{env.local.api_port}"
        keys["api_username"] = ADMIN_USER
    if env.alerts.slack_channel:
        keys["slack_channel"] = env.alerts.slack_channel
    if env.alerts.pagerduty_service:
        keys["pagerduty_service"] = env.alerts.pagerduty_service
    keys.update(_spark_keys(env))
    return keys


SPARK_LOCAL_CONN = "spark_local"


def _spark_keys(env: Environment) -> dict[str, str]:
    """Where `jobs:` pipelines run (platform_dags.factory.spark reads these); nothing without Spark."""
    from infra import naming

    spark = env.spark
    if spark is None:
        return {}
    keys = {"spark_target": spark.target}

    def uri(base: str, path: str) -> str:  # cloud targets: a bare path lives under the target's folder
        return path if "://" in path else f"{base.rstrip('/')}/{path.lstrip('/')}"
    if spark.target == "local":
        keys["spark_conn_id"] = SPARK_LOCAL_CONN
        keys["spark_jars"] = ",".join(spark.jars)
    elif spark.target == "dataproc":
        assert env.gcp is not None  # the model allows dataproc on runtime gke only
        keys.update(
            spark_project_id=env.gcp.project_id,
            spark_region=env.gcp.region,
            spark_service_account=naming.spark_service_account(env),
            spark_subnetwork_uri=naming.subnetwork_uri(env),
            spark_staging_bucket=naming.spark_staging_bucket(env),
            spark_scripts_uri=f"gs://{naming.spark_staging_bucket(env)}/{naming.spark_scripts_prefix()}",
            spark_runtime_version=spark.dataproc_runtime_version,
            spark_jars=",".join(uri(f"gs://{naming.spark_staging_bucket(env)}", jar) for jar in spark.jars),
        )
    else:
        assert spark.emr is not None
        scripts = spark.emr.scripts_uri.rstrip("/")
        keys.update(spark_emr_conn_id=spark.emr.conn_id, spark_scripts_uri=scripts, spark_jars=",".join(uri(scripts, j) for j in spark.jars))
    return keys


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)


def build(env: Environment) -> AirflowSettings:
    """Compute Airflow's configuration for `env` (local or GKE)."""
    a = env.airflow
    local = env.runtime == "local"
    folder = local_folder(env) if local else None
    c: dict[tuple[str, str], str] = {}
    c["core", "executor"] = a.executor
    c["core", "parallelism"] = str(a.parallelism)
    c["core", "load_examples"] = "False"
    c["core", "dags_folder"] = str(DAGS_DIR) if local else IMAGE_DAGS_DIR
    c["core", "auth_manager"] = RUNTIMES[env.runtime].auth_manager
    c["scheduler", "task_queued_timeout"] = str(a.task_queued_timeout_minutes * 60)
    c["scheduler", "enable_health_check"] = "True"
    c["scheduler", "scheduler_health_check_server_port"] = str(env.local.scheduler_health_port if local else 8974)
    c["dag_processor", "dag_bundle_config_list"] = json.dumps(_bundles(env, folder))
    c["logging", "colored_console_log"] = "False"
    # Task logs kept in a bucket everywhere (the source design's "copy of every log in storage"); the same
    # keys on GKE (Workload Identity) and locally (the GCS endpoint, through remote_log_conn_id below).
    c["logging", "remote_logging"] = "True"
    c["logging", "remote_base_log_folder"] = f"gs://{naming.task_logs_bucket(env)}/{TASK_LOG_FOLDER}"
    # Values live in the secret store under the Terraform secret ids (a local file locally).
    secrets = {option: naming.secret_id(env, purpose) for option, purpose in SECRET_PURPOSES.items()}
    if local:
        secrets["platform", "api_password"] = "admin-password"  # the queued watch calls the REST API
    if local:
        assert folder is not None
        api = f"http://127.0.0.1:{env.local.api_port}"
        c["database", "sql_alchemy_conn"] = database_url(env, "airflow")
        c["api", "host"] = "127.0.0.1"
        c["api", "port"] = str(env.local.api_port)
        c["api", "base_url"] = f"{api}/"
        c["core", "execution_api_server_url"] = f"{api}/execution/"
        c["core", "simple_auth_manager_users"] = f"{ADMIN_USER}:admin"  # its password is generated
        c["core", "simple_auth_manager_passwords_file"] = str(folder / "airflow" / "passwords.json")
        c["scheduler", "scheduler_health_check_server_host"] = "127.0.0.1"
        c["logging", "base_log_folder"] = str(folder / "logs" / "tasks")
        c["logging", "dag_processor_child_process_log_directory"] = str(folder / "logs" / "dag_processor")
        c["dag_processor", "dag_bundle_storage_path"] = str(folder / "dag_bundles")
        c["secrets", "backend"] = ""  # locally nothing is secret beyond the generated keys
        connections = {conn: database_url(env, conn, "postgresql") for conn in PIPELINE_DATABASES}
        connections.update(local_storage_connections(env))
        c["logging", "remote_log_conn_id"] = GCP_CONN_ID
        environment = {"STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{env.local.gcs_port}"}
        if env.spark is not None and env.spark.target == "local":
            connections[SPARK_LOCAL_CONN] = json.dumps({"conn_type": "spark", "host": env.spark.local_master})
    else:
        assert env.gcp is not None
        c["secrets", "backend"] = SECRET_MANAGER_BACKEND
        c["secrets", "backend_kwargs"] = json.dumps(
            {
                "project_id": env.gcp.project_id,
                "connections_prefix": naming.connections_prefix(env),
                "variables_prefix": naming.variables_prefix(env),
            }
        )
        c["logging", "remote_log_conn_id"] = ""  # no connection: application default credentials (Workload Identity)
        if env.airflow.ui.host:  # links and redirects name the public address, not the Service
            c["api", "base_url"] = f"https://{env.airflow.ui.host}/"
        c["dag_processor", "dag_bundle_storage_path"] = f"{GKE_SCRATCH}/dag_bundles"
        c["logging", "dag_processor_log_target"] = "stdout"  # component logs to stdout: Cloud Logging
        connections = {}  # from Secret Manager: <connections_prefix>-<conn_id>
        environment = {}
    for key, value in _platform_keys(env).items():
        c["platform", key] = value
    for section, keys in a.config_overrides.items():  # raw overrides win over everything above
        for key, value in keys.items():
            c[section, key] = _value(value)
    return AirflowSettings(
        env_name=env.name,
        config=c,
        secrets={k: v for k, v in secrets.items() if k not in c},
        connections=connections,
        components=_components(env, c),
        python_path=(str(DAGS_DIR),) if local else (IMAGE_LIB_DIR,),
        environment=environment,
    )


AWS_CONN_ID, GCP_CONN_ID = "aws_default", "google_cloud_default"


def local_storage_connections(env: Environment) -> dict[str, str]:
    """The connections the example transfers use, pointing at the local S3 and GCS endpoints.

    moto accepts any credentials (these are its test values); the GCS endpoint needs none, so the
    Google connection is anonymous and `STORAGE_EMULATOR_HOST` routes google-cloud-storage to it.
    """
    aws = {"conn_type": "aws", "login": "testing", "password": "testing",
           "extra": {"endpoint_url": f"http://127.0.0.1:{env.local.s3_port}", "region_name": "us-east-1"}}
    google = {"conn_type": "google_cloud_platform", "extra": {"is_anonymous": True, "project": "local"}}
    return {AWS_CONN_ID: json.dumps(aws), GCP_CONN_ID: json.dumps(google)}


# Which config sections each component reads; a change elsewhere does not restart it.
COMMON_SECTIONS = frozenset({"core", "database", "logging", "secrets", "api_auth", "execution_api", "sdk", "workers"})
SECTIONS = {
    "api-server": COMMON_SECTIONS | {"api", "webserver", "fab", "dag_processor"},
    "scheduler": COMMON_SECTIONS | {"scheduler", "platform", "local_executor", "celery", "kubernetes_executor", "api", "dag_processor"},
    "dag-processor": COMMON_SECTIONS | {"dag_processor", "platform"},
    "triggerer": COMMON_SECTIONS | {"triggerer", "api"},
    "s3": frozenset(),
    "gcs": frozenset(),
}


def _components(env: Environment, c: dict[tuple[str, str], str]) -> tuple[Component, ...]:
    api_port = int(c.get(("api", "port"), "8080"))
    health_port = c["scheduler", "scheduler_health_check_server_port"]
    probe = ("python", "-m", "platform_dags.probe")
    # The scheduler's one liveness probe (Kubernetes allows one): passes while the metadata database is
    # unreachable, else fails on a stale health server or a stale canary (see platform_dags.probe). The
    # health server answers 503 once the heartbeat is older than scheduler_health_check_threshold
    # (30 s; ~20 s after a SIGSTOP here): 3 failures 10 s apart restart a frozen scheduler within 60 s,
    # while a busy one keeps heart-beating. The canary's grace is the probe's own (registration, the
    # newest scheduler start), so no initial delay blinds it to an early freeze. Its timeout covers the
    # probe's own limits (health 5 s, connect 10 s, statements 5 s) plus a slow Python start.
    liveness = Probe(
        Exec((*probe, "liveness", "--max-age-minutes", c["platform", "canary_max_age_minutes"], "--health-port", health_port)),
        initial_delay_seconds=0, period_seconds=10, timeout_seconds=30, failure_threshold=3,
    )
    # Slow starts (a cold image, migrations just done, two busy cores): up to 5 min for the health server.
    startup = Probe(Exec((*probe, "startup", "--health-port", health_port)), 0, 5, 20, 60)
    api_health = HttpGet(api_port)

    def jobs_check(job_type: str) -> Probe:
        # `airflow jobs check` costs 30-45 s of CPU on 2 cores: probe rarely, tolerate slowness.
        command = ("airflow", "jobs", "check", "--job-type", job_type, "--local")
        return Probe(Exec(command), 60, 60, 45, 3)

    def cmd(*args: str) -> tuple[str, ...]:
        return ("airflow", *args)

    # Behind a proxy, uvicorn takes the scheme and client from X-Forwarded-* sent by the trusted peers only.
    proxies = RUNTIMES[env.runtime].trusted_proxies
    proxy_flag = ("--proxy-headers",) if proxies else ()
    proxy_env = (("FORWARDED_ALLOW_IPS", ",".join(proxies)),) if proxies else ()

    # Locally the API server reads task logs straight from disk; the scheduler's and triggerer's log
    # servers would only bind fixed ports (8793/8794) on every interface and clash between platforms.
    no_log_server = ("--skip-serve-logs",) if env.runtime == "local" else ()

    return (
        *(_storage_components(env) if env.runtime == "local" else ()),
        Component(
            "api-server",
            cmd("api-server", "--port", str(api_port), *proxy_flag),
            frozenset(SECTIONS["api-server"]),
            liveness=Probe(api_health, 0, 10, 5, 3),
            startup=Probe(api_health, 0, 2, 5, 60),
            readiness=Probe(api_health, 0, 5, 5, 3),
            environment=proxy_env,
        ),
        Component(
            "scheduler",
            cmd("scheduler", *no_log_server),
            frozenset(SECTIONS["scheduler"]),
            liveness=liveness,
            startup=startup,
        ),
        Component("dag-processor", cmd("dag-processor"), frozenset(SECTIONS["dag-processor"]), liveness=jobs_check("DagProcessorJob")),
        Component("triggerer", cmd("triggerer", *no_log_server), frozenset(SECTIONS["triggerer"]), liveness=jobs_check("TriggererJob")),
    )


def _storage_components(env: Environment) -> tuple[Component, ...]:
    """The local S3 and GCS endpoints (infra.local.storage), first so they are up when tasks run."""
    folder = local_folder(env)
    buckets = sorted({naming.task_logs_bucket(env), *local_destination_buckets()})

    def endpoint(name: str, port: int, *args: str) -> Component:
        probe = Probe(Exec(("python", "-m", "infra.local.storage", "probe", f"http://127.0.0.1:{port}/")), 0, 10, 5, 3)
        command = ("python", "-m", "infra.local.storage", name, "--port", str(port), *args)
        return Component(name, command, SECTIONS[name], liveness=probe, startup=Probe(probe.action, 0, 1, 5, 60))

    return (
        endpoint("s3", env.local.s3_port, "--seed-from", str(DAGS_DIR / "pipelines")),
        endpoint("gcs", env.local.gcs_port, "--data-dir", str(folder / "gcs"), *(a for b in buckets for a in ("--bucket", b))),
    )


def local_destination_buckets() -> set[str]:
    """The GCS buckets the project's transfer pipelines write to (created on the local GCS endpoint)."""
    from infra.local.storage import transfer_urls

    return {dest.split("://", 1)[1].split("/", 1)[0] for _, dest in transfer_urls(DAGS_DIR / "pipelines")}


# --- Local renderer: environment variables ------------------------------------------------------


def env_key(section: str, key: str) -> str:
    return f"AIRFLOW__{section.upper()}__{key.upper()}"


def render_env(settings: AirflowSettings, secrets: dict[str, str], home: Path) -> dict[str, str]:
    """AIRFLOW__SECTION__KEY variables (and AIRFLOW_CONN_*) for a local process; `secrets` maps secret names to values."""
    out = {"AIRFLOW_HOME": str(home), "PYTHONPATH": ":".join(settings.python_path), **settings.environment}
    for (section, key), value in settings.config.items():
        out[env_key(section, key)] = value
    for (section, key), name in settings.secrets.items():
        out[env_key(section, key)] = secrets[name]
    for conn_id, uri in settings.connections.items():
        out[f"AIRFLOW_CONN_{conn_id.upper()}"] = uri
    return out


def render_cfg(settings: AirflowSettings, source: str) -> str:
    """airflow.cfg text with the platform's settings (secrets left out), for a person reading AIRFLOW_HOME.

    Without it Airflow writes its own defaults there (`sql_alchemy_conn = sqlite:///...`), which is not
    what runs. Processes still get every value as an AIRFLOW__ variable, which wins over this file.
    """
    lines = [
        f"# Generated by `invoke deploy {settings.env_name}` from {source}; do not edit (rewritten on every deploy).",
        "# Every process also gets these values as AIRFLOW__SECTION__KEY variables, which win over this file.",
        "# Secrets (fernet key, API and JWT secrets, passwords) are not written here. Options not listed keep",
        "# Airflow's defaults: `airflow config list --defaults` shows them.",
    ]
    sections: dict[str, list[tuple[str, str]]] = {}
    for (section, key), value in sorted(settings.config.items()):
        sections.setdefault(section, []).append((key, value))
    for section, items in sections.items():
        lines += ["", f"[{section}]"]
        # `%` is interpolation syntax for Airflow's parser; continuation lines are indented.
        lines += [f"{key} = {value.replace('%', '%%').replace(chr(10), chr(10) + '    ')}" for key, value in items]
    return "\n".join(lines) + "\n"


def hashed_env(component: Component, base: dict[str, str]) -> dict[str, str]:
    """The part of `base` a component reads (its sections, connections, process basics): what its
    config hash covers. Every component still runs with all of `base`."""
    def wanted(name: str) -> bool:
        if not name.startswith("AIRFLOW__"):
            return True
        section = name.split("__")[1].lower()
        known = any(section in sections for sections in SECTIONS.values())
        return section in component.sections or not known  # unknown sections reach everyone
    return {k: v for k, v in base.items() if wanted(k)}


def config_hash(component: Component, env: dict[str, str]) -> str:
    """Changes exactly when what the component runs with changes (restart it then, and only then)."""
    payload = json.dumps([list(component.command), sorted(env.items()), sys.executable], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]
