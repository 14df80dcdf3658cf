"""Cloud SQL for PostgreSQL: private IP only, encrypted connections, IAM login, logged, backed up."""

from __future__ import annotations

from stacks.database import FIXED_FLAGS


def _instance(stack) -> dict:
    return stack.one("google_sql_database_instance", "database/instance")


def _flags(stack) -> dict[str, str]:
    return {flag["name"]: flag["value"] for flag in _instance(stack)["settings"]["database_flags"]}


def test_cloud_sql_has_no_public_ip(stack):
    ip = _instance(stack)["settings"]["ip_configuration"]
    assert ip["ipv4_enabled"] is False
    assert stack.ref(ip["private_network"]).path == "network/vpc"
    assert "authorized_networks" not in ip


def test_connections_must_be_encrypted(stack):
    assert _instance(stack)["settings"]["ip_configuration"]["ssl_mode"] == "ENCRYPTED_ONLY"


def test_instance_waits_for_private_service_access(stack):
    (target,) = _instance(stack)["depends_on"]
    kind, logical_id = target.split(".")
    assert kind == "google_service_networking_connection"
    assert stack.ref(f"${{{kind}.{logical_id}.id}}").path == "network/psa-connection"


def test_iam_database_authentication_is_on(stack):
    assert _flags(stack)["cloudsql.iam_authentication"] == "on"


def test_logging_flags_are_fixed(stack):
    flags = _flags(stack)
    for name in ("log_checkpoints", "log_connections", "log_disconnections", "log_lock_waits"):
        assert flags[name] == "on", name
    assert flags["log_temp_files"] == "0"
    # Checked here because checkov crashes on these two in Terraform JSON (see .checkov.yaml).
    assert flags["log_lock_waits"] == "on"
    assert flags["log_min_duration_statement"] == "-1"
    assert {k: flags[k] for k in FIXED_FLAGS} == FIXED_FLAGS


def test_prod_extra_flags_are_added(prod):
    assert _flags(prod)["max_connections"] == "400"


def test_query_insights_are_on(stack):
    insights = _instance(stack)["settings"]["insights_config"]
    assert insights["query_insights_enabled"] is True
    assert insights["record_client_address"] is False


def test_prod_database_is_regional(prod):
    assert _instance(prod)["settings"]["availability_type"] == "REGIONAL"


def test_dev_and_qa_databases_are_zonal(dev, qa):
    for stack in (dev, qa):
        assert _instance(stack)["settings"]["availability_type"] == "ZONAL"


def test_size_version_and_tier_come_from_config(stack):
    db = stack.env.database
    instance = _instance(stack)
    assert instance["database_version"] == f"POSTGRES_{db.postgres_version}"
    assert instance["settings"]["tier"] == db.tier
    assert instance["settings"]["disk_size"] == db.disk_size_gb
    assert instance["name"] == f"af-{stack.env.name}-pg"


def test_backups_and_point_in_time_recovery_follow_config(stack):
    backups = stack.env.database.backups
    config = _instance(stack)["settings"]["backup_configuration"]
    assert config["enabled"] is backups.enabled
    assert config["point_in_time_recovery_enabled"] is backups.point_in_time_recovery
    assert config["transaction_log_retention_days"] == backups.transaction_log_retention_days
    assert config["backup_retention_settings"] == {"retained_backups": backups.retained_backups, "retention_unit": "COUNT"}


def test_prod_keeps_30_backups_and_a_week_of_wal(prod):
    config = _instance(prod)["settings"]["backup_configuration"]
    assert config["backup_retention_settings"]["retained_backups"] == 30
    assert config["transaction_log_retention_days"] == 7


def test_maintenance_window_and_deletion_protection_follow_config(stack):
    db = stack.env.database
    instance = _instance(stack)
    assert instance["settings"]["maintenance_window"]["day"] == db.maintenance.day
    assert instance["settings"]["maintenance_window"]["hour"] == db.maintenance.hour
    assert instance["deletion_protection"] is db.deletion_protection
    assert instance["settings"]["deletion_protection_enabled"] is db.deletion_protection


def test_prod_database_cannot_be_deleted_but_dev_can(prod, dev):
    assert _instance(prod)["deletion_protection"] is True
    assert _instance(dev)["deletion_protection"] is False


def test_airflow_database_exists(stack):
    database = stack.one("google_sql_database")
    assert database["name"] == "airflow"
    assert stack.ref(database["instance"]).path == "database/instance"


def test_airflow_service_account_is_an_iam_database_user(stack):
    user = stack.one("google_sql_user", "database/airflow-iam-user")
    env = stack.env
    assert user["type"] == "CLOUD_IAM_SERVICE_ACCOUNT"
    # Cloud SQL's name for a service-account user: its email without ".gserviceaccount.com".
    assert user["name"] == f"af-{env.name}-airflow@{env.gcp.project_id}.iam"
    assert "password" not in user
