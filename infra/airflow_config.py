"""The one Airflow configuration builder: environment model → Airflow settings and probe definitions.

Everything about how Airflow is configured is decided here, once, as data:

    settings = build(env)                       # renderer-independent: config keys, connections, components
    env_vars = render_env(settings, secrets)    # local renderer: AIRFLOW__SECTION__KEY variables

`AirflowSettings.config` maps (section, key) to a string value; `secrets` names the values that come
from a secret store (a local file here, Secret Manager / Kubernetes secrets on GKE) instead of being
written in clear. Each `Component` carries its command and its probes in Kubernetes' own terms
(`Probe.to_k8s()` gives the `livenessProbe` dict), so the GKE renderer (chart values) and the local
supervisor are driven by the very same definitions.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from infra.config import ROOT, Environment

DAGS_DIR = ROOT / "dags"
ADMIN_USER = "admin"
SIMPLE_AUTH = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
SECRET_MANAGER_BACKEND = "airflow.providers.google.cloud.secrets.secret_manager.CloudSecretManagerBackend"
LOCAL_BUNDLE = "airflow.dag_processing.bundles.local.LocalDagBundle"
GIT_BUNDLE = "airflow.providers.git.bundles.git.GitDagBundle"
# Connections the example pipelines use, each a database of the embedded PostgreSQL locally.
PIPELINE_DATABASES = ("sample_source", "warehouse")


# --- Probes, in Kubernetes' terms ----------------------------------------------------------------


@dataclass(frozen=True)
class HttpGet:
    """An HTTP GET that must answer 2xx/3xx within the probe's timeout."""

    path: str
    port: int
    host: str = "127.0.0.1"

    def to_k8s(self) -> dict:
        return {"httpGet": {"path": self.path, "port": self.port}}


@dataclass(frozen=True)
class Exec:
    """A command that must exit 0 within the probe's timeout."""

    command: tuple[str, ...]

    def to_k8s(self) -> dict:
        return {"exec": {"command": list(self.command)}}


@dataclass(frozen=True)
class Probe:
    """One probe with the kubelet's semantics: wait `initial_delay`, then every `period`, a run that
    takes longer than `timeout` fails; `failure_threshold` failures in a row trip it."""

    name: str
    action: HttpGet | Exec
    initial_delay_seconds: int = 0
    period_seconds: int = 10
    timeout_seconds: int = 1
    failure_threshold: int = 3
    success_threshold: int = 1

    def to_k8s(self) -> dict:
        return {
            **self.action.to_k8s(),
            "initialDelaySeconds": self.initial_delay_seconds,
            "periodSeconds": self.period_seconds,
            "timeoutSeconds": self.timeout_seconds,
            "failureThreshold": self.failure_threshold,
            "successThreshold": self.success_threshold,
        }


@dataclass(frozen=True)
class Component:
    """An Airflow process: its command, the config sections it reads, and how it is probed.

    `liveness` may hold several probes (the scheduler has two: its own health server and the canary);
    the component is restarted when any of them trips. Liveness starts once `startup` has succeeded.
    """

    name: str
    command: tuple[str, ...]
    sections: frozenset[str]
    startup: Probe | None
    liveness: tuple[Probe, ...]
    ready: HttpGet | None = None


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
    bundles = [{"name": "platform", "classpath": LOCAL_BUNDLE, "kwargs": {"path": str(DAGS_DIR), "refresh_interval": 30}}]
    if dags.repo_url:
        repo_url = dags.repo_url
        if folder is not None and "://" not in repo_url and not repo_url.startswith("git@"):
            repo_url = str((ROOT / repo_url).resolve()) if not Path(repo_url).is_absolute() else repo_url
        kwargs = {"repo_url": repo_url, "tracking_ref": dags.branch, "refresh_interval": dags.refresh_seconds}
        if dags.subdir:
            kwargs["subdir"] = dags.subdir
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
    c["core", "dags_folder"] = str(DAGS_DIR) if local else "/opt/airflow/dags"
    c["core", "auth_manager"] = SIMPLE_AUTH
    c["core", "simple_auth_manager_users"] = f"{ADMIN_USER}:admin"
    c["scheduler", "task_queued_timeout"] = str(a.task_queued_timeout_minutes * 60)
    c["scheduler", "enable_health_check"] = "True"
    c["scheduler", "scheduler_health_check_server_port"] = str(env.local.scheduler_health_port if local else 8974)
    c["dag_processor", "dag_bundle_config_list"] = json.dumps(_bundles(env, folder))
    c["logging", "colored_console_log"] = "False"
    secrets = {
        ("core", "fernet_key"): "fernet-key",
        ("api", "secret_key"): "api-secret-key",
        ("api_auth", "jwt_secret"): "jwt-secret",
    }
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
        c["core", "simple_auth_manager_passwords_file"] = str(folder / "airflow" / "passwords.json")
        c["scheduler", "scheduler_health_check_server_host"] = "127.0.0.1"
        c["logging", "base_log_folder"] = str(folder / "logs" / "tasks")
        c["logging", "dag_processor_child_process_log_directory"] = str(folder / "logs" / "dag_processor")
        c["dag_processor", "dag_bundle_storage_path"] = str(folder / "dag_bundles")
        c["secrets", "backend"] = ""  # locally nothing is secret beyond the generated keys
        connections = {conn: database_url(env, conn, "postgresql") for conn in PIPELINE_DATABASES}
    else:
        assert env.gcp is not None
        c["secrets", "backend"] = SECRET_MANAGER_BACKEND
        c["secrets", "backend_kwargs"] = json.dumps(
            {"project_id": env.gcp.project_id, "connections_prefix": "airflow-connections", "variables_prefix": "airflow-variables"}
        )
        c["logging", "remote_logging"] = "True"
        connections = {}  # from Secret Manager: airflow-connections-<conn_id>
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
        python_path=(str(DAGS_DIR),) if local else ("/opt/airflow/dags",),
    )


# Which config sections each component reads; a change elsewhere does not restart it.
COMMON_SECTIONS = frozenset({"core", "database", "logging", "secrets", "api_auth", "execution_api", "sdk", "workers"})
SECTIONS = {
    "api-server": COMMON_SECTIONS | {"api", "webserver", "fab", "dag_processor"},
    "scheduler": COMMON_SECTIONS | {"scheduler", "platform", "local_executor", "celery", "kubernetes_executor", "api", "dag_processor"},
    "dag-processor": COMMON_SECTIONS | {"dag_processor", "platform"},
    "triggerer": COMMON_SECTIONS | {"triggerer", "api"},
}


def _components(env: Environment, c: dict[tuple[str, str], str]) -> tuple[Component, ...]:
    a = env.airflow
    api_port = int(c.get(("api", "port"), "8080"))
    health_port = int(c["scheduler", "scheduler_health_check_server_port"])
    # The scheduler's health server answers 503 once its heartbeat is older than
    # scheduler_health_check_threshold (30 s): 3 failures 5 s apart restart a frozen one within ~60 s,
    # while a busy scheduler keeps heart-beating and is never touched.
    scheduler_health = Probe("health", HttpGet("/health", health_port), 10, 5, 5, 3)
    # The canary proves the scheduler *schedules*: the probe fails once the newest scheduled
    # system_canary run is older than max_age (it grants that much grace after the DAG first appears).
    # Two failures in a row, so one slow database answer never restarts a healthy scheduler.
    canary_period = max(15, min(60, a.canary.interval_minutes * 30))
    canary = Probe(
        "canary",
        Exec(("python", "-m", "platform_dags.probe", "scheduler", "--max-age-minutes", str(a.canary.max_age_minutes))),
        initial_delay_seconds=a.canary.interval_minutes * 60,
        period_seconds=canary_period,
        timeout_seconds=min(45, canary_period),
        failure_threshold=2,
    )
    api_probe = HttpGet("/api/v2/version", api_port)

    def jobs_check(job_type: str) -> Probe:
        # `airflow jobs check` costs 30-45 s of CPU on 2 cores: probe rarely, tolerate slowness.
        command = ("airflow", "jobs", "check", "--job-type", job_type, "--local")
        return Probe("jobs-check", Exec(command), 60, 60, 45, 3)

    def cmd(*args: str) -> tuple[str, ...]:
        return ("airflow", *args)

    # Locally the API server reads task logs straight from disk; the scheduler's and triggerer's log
    # servers would only bind fixed ports (8793/8794) on every interface and clash between platforms.
    no_log_server = ("--skip-serve-logs",) if env.runtime == "local" else ()

    return (
        Component(
            "api-server",
            cmd("api-server", "--port", str(api_port)),
            frozenset(SECTIONS["api-server"]),
            startup=Probe("startup", api_probe, 0, 2, 5, 60),
            liveness=(Probe("http", api_probe, 0, 10, 5, 3),),
            ready=api_probe,
        ),
        Component(
            "scheduler",
            cmd("scheduler", *no_log_server),
            frozenset(SECTIONS["scheduler"]),
            startup=Probe("startup", HttpGet("/health", health_port), 0, 2, 5, 60),
            liveness=(scheduler_health, canary),
            ready=HttpGet("/health", health_port),
        ),
        Component(
            "dag-processor",
            cmd("dag-processor"),
            frozenset(SECTIONS["dag-processor"]),
            startup=None,
            liveness=(jobs_check("DagProcessorJob"),),
        ),
        Component(
            "triggerer",
            cmd("triggerer", *no_log_server),
            frozenset(SECTIONS["triggerer"]),
            startup=None,
            liveness=(jobs_check("TriggererJob"),),
        ),
    )


# --- Local renderer: environment variables ------------------------------------------------------


def env_key(section: str, key: str) -> str:
    return f"AIRFLOW__{section.upper()}__{key.upper()}"


def render_env(settings: AirflowSettings, secrets: dict[str, str], home: Path) -> dict[str, str]:
    """AIRFLOW__SECTION__KEY variables (and AIRFLOW_CONN_*) for a local process; `secrets` maps secret names to values."""
    out = {"AIRFLOW_HOME": str(home), "PYTHONPATH": ":".join(settings.python_path)}
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
