"""The Airflow configuration builder: what each environment's Airflow runs with, and how it is probed."""

from __future__ import annotations

import json

import pytest

from infra.airflow_config import (
    API_HEALTH_PATH,
    GIT_BUNDLE,
    LOCAL_BUNDLE,
    LOCAL_PROBES,
    SECRET_MANAGER_BACKEND,
    Component,
    Exec,
    HttpGet,
    Probe,
    build,
    config_hash,
    hashed_env,
    render_env,
)
from infra.config import parse_environment
from tests.ci import missing

SECRETS = {"af_local_fernet_key": "f", "af_local_api_secret_key": "s", "af_local_jwt_secret": "j", "admin-password": "p"}


def local(**airflow) -> object:
    data = {"runtime": "local", "airflow": {"executor": "LocalExecutor", **airflow},
            "local": {"folder": "/tmp/x", "postgres_port": 50001, "api_port": 50002, "scheduler_health_port": 50003}}
    return parse_environment("local", data, "local.yaml")


def rendered(env) -> dict[str, str]:
    return render_env(build(env), SECRETS, home="/tmp/x/airflow")


def test_local_runs_localexecutor_on_the_embedded_postgres_with_the_model_values():
    out = rendered(local(parallelism=6, task_queued_timeout_minutes=30))
    assert out["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert out["AIRFLOW__CORE__PARALLELISM"] == "6"
    assert out["AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT"] == "1800"
    assert out["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == "postgresql+psycopg2://postgres@127.0.0.1:50001/airflow"
    assert out["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"] == "True"
    assert out["AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT"] == "50003"
    assert out["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:50002/execution/"
    assert out["AIRFLOW_CONN_WAREHOUSE"] == "postgresql://postgres@127.0.0.1:50001/warehouse"
    assert out["AIRFLOW__SECRETS__BACKEND"] == ""


def test_secrets_come_from_the_secret_store_not_from_the_settings():
    settings = build(local())
    assert ("core", "fernet_key") not in settings.config
    assert rendered(local())["AIRFLOW__CORE__FERNET_KEY"] == "f"
    assert rendered(local())["AIRFLOW__PLATFORM__API_PASSWORD"] == "p"


def test_platform_section_carries_canary_and_queued_watch_settings_for_the_dag_side():
    out = rendered(local(canary={"interval_minutes": 2, "max_age_minutes": 6}, queued_watch={"warn_after_minutes": 9}))
    assert out["AIRFLOW__PLATFORM__CANARY_INTERVAL_MINUTES"] == "2"
    assert out["AIRFLOW__PLATFORM__CANARY_MAX_AGE_MINUTES"] == "6"
    assert out["AIRFLOW__PLATFORM__QUEUED_WARN_MINUTES"] == "9"
    assert out["AIRFLOW__PLATFORM__API_URL"] == "http://127.0.0.1:50002"


def test_raw_overrides_win_over_computed_values():
    out = rendered(local(config_overrides={"core": {"parallelism": 3}, "scheduler": {"use_job_schedule": False}}))
    assert out["AIRFLOW__CORE__PARALLELISM"] == "3"
    assert out["AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE"] == "False"


def test_without_a_repo_the_project_dags_folder_is_the_only_bundle():
    bundles = json.loads(rendered(local())["AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST"])
    assert [(b["name"], b["classpath"]) for b in bundles] == [("platform", LOCAL_BUNDLE)]
    assert bundles[0]["kwargs"]["path"].endswith("/dags")


def test_a_dag_repository_becomes_a_git_bundle_stored_under_the_local_folder():
    env = local(dags={"repo_url": "/srv/company-dags", "branch": "prod", "subdir": "dags", "refresh_seconds": 7})
    out = rendered(env)
    bundles = {b["name"]: b for b in json.loads(out["AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST"])}
    assert bundles["dags"]["classpath"] == GIT_BUNDLE
    assert bundles["dags"]["kwargs"] == {"repo_url": "/srv/company-dags", "tracking_ref": "prod", "subdir": "dags", "refresh_interval": 7}
    assert "platform" in bundles  # the canary keeps running from the platform's own DAGs
    assert out["AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_STORAGE_PATH"] == "/tmp/x/dag_bundles"


def test_gke_uses_secret_manager_and_no_local_paths():
    env = parse_environment(
        "dev", {"runtime": "gke", "gcp": {"project_id": "acme-dev-1", "region": "europe-west1", "zones": ["europe-west1-b"], "state_bucket": "acme-tf"}}, "dev.yaml"
    )
    settings = build(env)
    assert settings.get("secrets", "backend") == SECRET_MANAGER_BACKEND
    assert json.loads(settings.get("secrets", "backend_kwargs"))["project_id"] == "acme-dev-1"
    assert settings.get("database", "sql_alchemy_conn") is None  # from a Kubernetes secret, never in values
    assert settings.connections == {}


def test_the_scheduler_has_one_liveness_probe_that_catches_a_freeze_within_a_minute():
    settings = build(local(canary={"interval_minutes": 5, "max_age_minutes": 15}))
    scheduler = settings.component("scheduler")
    chart = scheduler.chart_probes()
    assert set(chart) == {"livenessProbe", "startupProbe"}  # one liveness probe, as Kubernetes allows
    liveness = chart["livenessProbe"]
    assert liveness["command"] == ["python", "-m", "platform_dags.probe", "liveness",
                                   "--max-age-minutes", "15", "--health-port", "50003"]
    # 503 comes at most 30 s after the last heartbeat; then failureThreshold x period must fit in 60 s.
    assert 30 + liveness["periodSeconds"] * liveness["failureThreshold"] <= 60
    assert liveness["initialDelaySeconds"] == 0  # the canary's grace is the probe's, not a blind delay
    assert chart["startupProbe"]["command"][3:] == ["startup", "--health-port", "50003"]
    # Slow starts get minutes, not the chart default's one minute.
    assert chart["startupProbe"]["periodSeconds"] * chart["startupProbe"]["failureThreshold"] >= 180


def test_the_health_port_in_the_probe_follows_the_scheduler_setting():
    settings = build(local(config_overrides={"scheduler": {"scheduler_health_check_server_port": 50999}}))
    assert settings.component("scheduler").liveness.to_chart()["command"][-2:] == ["--health-port", "50999"]


def test_the_liveness_probe_answers_before_the_kubelet_gives_up():
    """An unreachable database must be the probe's pass, not a timed-out failure: its own limits fit."""
    from platform_dags import probe

    timeout = build(local()).component("scheduler").liveness.timeout_seconds
    assert probe.HEALTH_TIMEOUT + probe.CONNECT_TIMEOUT + probe.STATEMENT_TIMEOUT + 5 <= timeout


def test_the_api_server_is_probed_on_the_path_the_chart_fixes():
    api = build(local()).component("api-server")
    for which, p in api.probes().items():
        assert p.to_k8s()["httpGet"] == {"path": "/api/v2/monitor/health", "port": 50002}, which
        assert set(p.to_chart()) == {"initialDelaySeconds", "periodSeconds", "timeoutSeconds", "failureThreshold"}


def test_a_probe_the_chart_cannot_express_is_refused():
    with pytest.raises(ValueError, match="scheduler: the chart cannot express a HttpGet liveness probe"):
        Component("scheduler", ("airflow", "scheduler"), frozenset(), liveness=Probe(HttpGet(8974), 0, 10, 5, 3))
    with pytest.raises(ValueError, match="triggerer: the chart cannot express a Exec startup probe"):
        Component("triggerer", ("airflow", "triggerer"), frozenset(), liveness=Probe(Exec(("true",)), 0, 10, 5, 3),
                  startup=Probe(Exec(("true",)), 0, 10, 5, 3))


CHART_KEYS = {"api-server": "apiServer", "scheduler": "scheduler", "dag-processor": "dagProcessor", "triggerer": "triggerer"}


def _chart_file(name: str) -> str:
    """A file of the pinned official chart package, found as the renderer finds it (never copied here)."""
    import tarfile

    from infra import helm
    from infra.config import load_environment
    from infra.errors import UserError

    try:
        path = helm.chart_package(load_environment("prod").kubernetes.chart)
    except UserError as exc:
        missing("the pinned chart package", str(exc))
    with tarfile.open(path) as tgz:
        return tgz.extractfile(f"airflow/{name}").read().decode()


@pytest.mark.parametrize("runtime", ["local", "gke"])
def test_every_probe_is_accepted_by_the_chart_schema(runtime):
    import jsonschema

    schema = json.loads(_chart_file("values.schema.json"))
    env = local() if runtime == "local" else parse_environment("dev", {"runtime": "gke", "gcp": {
        "project_id": "acme-dev-1", "region": "europe-west1", "zones": ["europe-west1-b"], "state_bucket": "acme-tf"}}, "dev.yaml")
    for component in build(env).components:
        if component.name in LOCAL_PROBES:
            continue  # the local object storage endpoints are not chart components
        chart_key = CHART_KEYS[component.name]
        for key, value in component.chart_probes().items():
            sub = schema["properties"][chart_key]["properties"][key]  # KeyError: the chart has no such probe
            jsonschema.validate(value, sub)  # additionalProperties: false rejects anything the chart ignores


def test_the_chart_fixes_the_api_server_probe_path_the_builder_uses():
    template = _chart_file("templates/api-server/api-server-deployment.yaml")
    assert template.count(f"path: {API_HEALTH_PATH}") == 3  # liveness, readiness, startup


@pytest.mark.parametrize(
    "override, restarted",
    [
        ({"scheduler": {"parsing_processes": 1}}, {"scheduler"}),
        ({"dag_processor": {"min_file_process_interval": 10}}, {"dag-processor", "api-server", "scheduler"}),
        ({"core": {"parallelism": 3}}, {"api-server", "scheduler", "dag-processor", "triggerer"}),
        ({"triggerer": {"capacity": 50}}, {"triggerer"}),
    ],
)
def test_a_config_change_restarts_only_the_components_that_read_it(override, restarted):
    before, after = build(local()), build(local(config_overrides=override))
    env_before, env_after = render_env(before, SECRETS, "/h"), render_env(after, SECRETS, "/h")
    changed = {
        c.name for c in after.components
        if config_hash(c, hashed_env(c, env_after)) != config_hash(before.component(c.name), hashed_env(before.component(c.name), env_before))
    }
    assert changed == restarted


def test_local_components_bind_no_fixed_log_server_ports():
    settings = build(local())
    for name in ("scheduler", "triggerer"):
        assert "--skip-serve-logs" in settings.component(name).command, name


def test_airflow_cfg_shows_the_platforms_settings_and_no_secret():
    import configparser

    from infra.airflow_config import render_cfg

    settings = build(local())
    text = render_cfg(settings, "environments/local.yaml")
    assert text.startswith("# Generated by `invoke deploy local` from environments/local.yaml; do not edit")
    parsed = configparser.ConfigParser()  # interpolating, like Airflow's parser
    parsed.read_string(text)
    assert parsed["database"]["sql_alchemy_conn"] == settings.config["database", "sql_alchemy_conn"]
    assert parsed["database"]["sql_alchemy_conn"].startswith("postgresql")
    assert parsed["core"]["executor"] == "LocalExecutor"
    assert {(s, k) for s in parsed.sections() for k in parsed[s]} == set(settings.config)
    for section, key in settings.secrets:  # fernet key, API and JWT secrets, the admin password
        assert not parsed.has_option(section, key)
