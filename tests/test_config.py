"""The environment model: the shipped files load, and every bad file gets its one-line message."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from infra.config import ENVIRONMENTS_DIR, load_all, load_environment
from infra.errors import ConfigError

GCP = """\
runtime: gke
gcp: {project_id: acme-airflow-test, region: europe-west1, zones: [europe-west1-b], state_bucket: acme-tfstate}
"""


def write_env(folder: Path, name: str, body: str) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(textwrap.dedent(body))
    return path


def error_of(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_environment(path)
    return str(caught.value)


def test_shipped_environments_load():
    envs = {env.name: env for env in load_all()}
    assert set(envs) == {"local", "dev", "qa", "prod"}
    assert envs["local"].runtime == "local"
    assert {envs[n].runtime for n in ("dev", "qa", "prod")} == {"gke"}


def test_only_prod_is_protected():
    assert [env.name for env in load_all() if env.protected] == ["prod"]


def test_short_file_gets_secure_defaults(tmp_path):
    env = load_environment(write_env(tmp_path, "tiny", GCP))
    assert env.database.deletion_protection and env.gke.deletion_protection
    assert env.database.backups.point_in_time_recovery
    assert env.airflow.task_queued_timeout_minutes == 30
    assert env.airflow.canary.interval_minutes == 5
    assert [sink.name for sink in env.logging.sinks] == ["airflow", "gke", "cloudsql"]


def test_gke_environments_keep_their_node_ranges_apart():
    # Environments may one day be peered (shared VPN, QA reaching dev data): their ranges never overlap.
    envs = load_all(runtime="gke")
    for i, env in enumerate(envs):
        for other in envs[i + 1 :]:
            assert not env.network.nodes_cidr.overlaps(other.network.nodes_cidr), (env.name, other.name)


BAD_FILES = [
    (
        "typo_top_level_key",
        GCP + "protcted: true\n",
        "unknown key 'protcted' (did you mean 'protected'?)",
    ),
    (
        "typo_nested_key",
        GCP + "gke: {node_pool: []}\n",
        "gke: unknown key 'node_pool' (did you mean 'node_pools'?)",
    ),
    (
        "overlapping_cidrs",
        GCP + "network: {nodes_cidr: 10.0.0.0/16, pods_cidr: 10.0.128.0/17}\n",
        "network.pods_cidr: 10.0.128.0/17 overlaps nodes_cidr (10.0.0.0/16)",
    ),
    (
        "min_greater_than_max",
        GCP + "gke:\n  node_pools:\n    - {name: a}\n    - {name: b, min_nodes: 1, max_nodes: 0}\n",
        "gke.node_pools[1].max_nodes: must be >= min_nodes (1), got 0",
    ),
    (
        "bad_tier",
        GCP + "database: {tier: db-large}\n",
        "database.tier: must look like db-custom-<vCPUs>-<MiB> (e.g. db-custom-2-7680), got 'db-large'",
    ),
    (
        "tier_memory_out_of_range",
        GCP + "database: {tier: db-custom-2-1024}\n",
        "database.tier: memory must be a multiple of 256 MiB and 0.9-6.5 GiB per vCPU, got 'db-custom-2-1024'",
    ),
    (
        "bad_project_id",
        "runtime: gke\ngcp: {project_id: Acme_Prod, region: europe-west1, zones: [europe-west1-b], state_bucket: acme-tf}\n",
        "gcp.project_id: must match ^[a-z][a-z0-9-]{4,28}[a-z0-9]$, got 'Acme_Prod'",
    ),
    (
        "bad_node_pool_name",
        GCP + "gke: {node_pools: [{name: Workers_1}]}\n",
        "gke.node_pools[0].name: must match ^[a-z]([-a-z0-9]*[a-z0-9])?$, got 'Workers_1'",
    ),
    (
        "wrong_type",
        GCP + "gke: {node_pools: [{name: a, max_nodes: lots}]}\n",
        "gke.node_pools[0].max_nodes: expected an integer, got 'lots'",
    ),
    (
        "missing_runtime",
        "protected: true\n",
        "missing required key 'runtime'",
    ),
    (
        "missing_gcp_for_gke",
        "runtime: gke\n",
        "gcp: required for runtime gke",
    ),
    (
        "missing_required_nested_key",
        "runtime: gke\ngcp: {project_id: acme-airflow-test, region: europe-west1, zones: [europe-west1-b]}\n",
        "gcp: missing required key 'state_bucket'",
    ),
    (
        "zone_outside_region",
        "runtime: gke\ngcp: {project_id: acme-airflow-test, region: europe-west1, zones: [us-central1-a], state_bucket: acme-tf}\n",
        "gcp.zones: zone must be in region europe-west1 (like europe-west1-b), got 'us-central1-a'",
    ),
    (
        "retention_lock_without_period",
        GCP + "logging: {archive: {retention_days: null, retention_locked: true}}\n",
        "logging.archive.retention_locked: needs retention_days to be set (a lock without a period locks nothing), got true",
    ),
    (
        "unknown_release_channel",
        GCP + "gke: {release_channel: BETA}\n",
        "gke.release_channel: must be 'RAPID', 'REGULAR' or 'STABLE', got 'BETA'",
    ),
    (
        "control_plane_not_28",
        GCP + "network: {control_plane_cidr: 172.16.0.0/24}\n",
        "network.control_plane_cidr: must be a /28 (GKE requires it), got '172.16.0.0/24'",
    ),
    (
        "cidr_with_host_bits",
        GCP + "network: {nodes_cidr: 10.10.0.1/20}\n",
        "network.nodes_cidr: input is not a valid IPv4 network, got '10.10.0.1/20'",
    ),
    (
        "canary_max_age_too_short",
        GCP + "airflow: {canary: {interval_minutes: 10, max_age_minutes: 15}}\n",
        "airflow.canary.max_age_minutes: must be >= 2 x interval_minutes (20) to avoid false restarts, got 15",
    ),
    (
        "pitr_without_backups",
        GCP + "database: {backups: {enabled: false, point_in_time_recovery: true}}\n",
        "database.backups.point_in_time_recovery: needs backups enabled (enabled: true), got true",
    ),
    (
        "duplicate_node_pool_names",
        GCP + "gke: {node_pools: [{name: a}, {name: a}]}\n",
        "gke.node_pools: node pool names must be unique, got 'a' twice",
    ),
    (
        "bad_executor",
        GCP + "airflow: {executor: SequentialExecutor}\n",
        "airflow.executor: must be 'LocalExecutor', 'KubernetesExecutor' or 'CeleryExecutor', got 'SequentialExecutor'",
    ),
    (
        "bad_slack_channel",
        GCP + "alerts: {slack_channel: etl-alerts}\n",
        "alerts.slack_channel: must match ^#[a-z0-9][a-z0-9_-]{0,79}$, got 'etl-alerts'",
    ),
    (
        "gcp_on_local_runtime",
        "runtime: local\ngcp: {project_id: acme-airflow-test, region: europe-west1, zones: [europe-west1-b], state_bucket: acme-tf}\n",
        "gcp: only used with runtime gke, remove it",
    ),
    (
        "gke_maintenance_too_short",
        GCP + "gke: {maintenance: {days: [SU], duration_hours: 6}}\n",
        "gke.maintenance.duration_hours: GKE needs >= 48 h of maintenance per 32 days (days x duration_hours >= 12), got 1 x 6",
    ),
    (
        "duplicate_yaml_key",
        GCP + "protected: true\nprotected: false\n",
        None,  # position-based: checked below
    ),
    (
        "bad_override_section",
        GCP + "airflow: {config_overrides: {Core: {parallelism: 4}}}\n",
        "airflow.config_overrides.Core.[key]: must match ^[a-z][a-z0-9_]*$, got 'Core'",
    ),
    (
        "local_ports_clash",
        "runtime: local\nlocal: {api_port: 8080, scheduler_health_port: 8080}\n",
        "local.scheduler_health_port: must differ from api_port (8080), got 8080",
    ),
    (
        "local_postgres_port_clashes_with_api_port",
        "runtime: local\nlocal: {postgres_port: 8080, api_port: 8080}\n",
        "local.api_port: must differ from postgres_port (8080), got 8080",
    ),
    (
        "overrides_a_fixed_database_flag",
        GCP + "database: {flags: {max_connections: '400', log_connections: 'off'}}\n",
        "database.flags.log_connections: fixed by the platform (IAM login and audit logging rely on it), remove it",
    ),
    (
        "nul_bytes",
        GCP + "labels: {team: data\0}\n",
        None,  # position-based: checked below
    ),
    (
        "control_character",
        GCP + "labels: {team: data\x07}\n",
        None,  # position-based: checked below
    ),
    (
        "local_storage_port_clash",
        "runtime: local\nlocal: {postgres_port: 9023, gcs_port: 9023}\n",
        "local.gcs_port: must differ from postgres_port (9023), got 9023",
    ),
    (
        "local_s3_and_gcs_ports_clash",
        "runtime: local\nlocal: {s3_port: 9500, gcs_port: 9500}\n",
        "local.gcs_port: must differ from s3_port (9500), got 9500",
    ),
]


@pytest.mark.parametrize("case,body,expected", BAD_FILES, ids=[case for case, _, _ in BAD_FILES])
def test_bad_environment_file_gets_one_line(tmp_path, case, body, expected):
    path = write_env(tmp_path, "broken", body)
    message = error_of(path)
    assert "\n" not in message, message
    assert message.startswith(f"{path}: ") or message.startswith(f"{path}:"), message
    if expected is not None:
        assert message == f"{path}: {expected}"


def test_duplicate_yaml_key_names_its_line(tmp_path):
    path = write_env(tmp_path, "dupe", GCP + "protected: true\nprotected: false\n")
    assert error_of(path) == f"{path}:4:1: key 'protected' is given twice (first on line 3)"


NOT_TEXT = "not a text file (binary data or not UTF-8): save it as UTF-8 YAML text"


@pytest.mark.parametrize(
    "content,where",
    [
        (GCP.encode() + b"labels: {team: data\0}\n", "3:20"),  # a NUL byte
        (b"runtime: local\nlabels: {team: caf\xe9}\n", "2:19"),  # Latin-1, not UTF-8
        (bytes(range(256)) * 4, "1:1"),  # binary garbage
        (b"runtime: local\nlabels: {team: a\x07}\n", "2:17"),  # a control character YAML refuses
    ],
    ids=["nul", "latin1", "binary", "control_character"],
)
def test_file_that_is_not_text_is_one_line_at_its_position(tmp_path, content, where):
    path = tmp_path / "binary.yaml"
    path.write_bytes(content)
    message = error_of(path)
    assert message.startswith(f"{path}:{where}: {NOT_TEXT}"), message
    assert "\n" not in message


def test_default_airflow_log_sink_selects_the_environments_namespace(tmp_path):
    env = load_environment(write_env(tmp_path, "ns", GCP + "airflow: {namespace: data-airflow}\n"))
    (sink,) = [sink for sink in env.logging.sinks if sink.name == "airflow"]
    assert 'resource.labels.namespace_name="data-airflow"' in sink.filter


def test_sinks_given_in_the_file_are_kept_as_written(tmp_path):
    body = GCP + "airflow: {namespace: other}\nlogging: {sinks: [{name: mine, filter: 'severity>=ERROR'}]}\n"
    env = load_environment(write_env(tmp_path, "own", body))
    assert [(s.name, s.filter) for s in env.logging.sinks] == [("mine", "severity>=ERROR")]


def test_invalid_yaml_names_line_and_column(tmp_path):
    path = write_env(tmp_path, "syntax", "runtime: gke\ngke: {node_pools: [\n")
    assert error_of(path).startswith(f"{path}:3:1: YAML syntax error: ")


def test_empty_file_says_what_it_needs(tmp_path):
    path = write_env(tmp_path, "empty", "")
    assert error_of(path) == f"{path}: the file is empty; it needs at least `runtime: gke` or `runtime: local`"


def test_bad_environment_name(tmp_path):
    path = write_env(tmp_path, "Prod_EU", GCP)
    assert "environment name must be 2-15 chars" in error_of(path)


def test_unknown_environment_lists_known_ones():
    with pytest.raises(ConfigError) as caught:
        load_environment("staging")
    assert "no such environment file" in str(caught.value)
    assert "dev, local, prod, qa" in str(caught.value)


def test_load_all_reports_every_bad_file(tmp_path):
    write_env(tmp_path, "good", GCP)
    write_env(tmp_path, "bad-one", GCP + "protcted: true\n")
    write_env(tmp_path, "bad-two", "runtime: gke\n")
    with pytest.raises(ConfigError) as caught:
        load_all(root=tmp_path)
    lines = str(caught.value).splitlines()
    assert [line.split(":")[0] for line in lines] == [str(tmp_path / "bad-one.yaml"), str(tmp_path / "bad-two.yaml")]


def test_prod_values_are_data_not_names(tmp_path):
    """Protection follows the flag: a copy of prod under another name is just as protected."""
    write_env(tmp_path, "prod-eu", (ENVIRONMENTS_DIR / "prod.yaml").read_text())
    copy = load_environment(tmp_path / "prod-eu.yaml")
    prod = load_environment("prod")
    assert copy.protected and copy.model_dump(exclude={"name"}) == prod.model_dump(exclude={"name"})


def test_spark_in_process_on_gke_is_refused_with_the_key(tmp_path):
    # The GKE image has neither pyspark nor a JVM: a local Spark target there would fail at the first task.
    path = write_env(tmp_path, "dev", GCP + "spark: {target: local}\n")
    message = error_of(path)
    assert "dev.yaml" in message and "spark" in message and "dataproc or emr" in message
