"""Cloud SQL for PostgreSQL holding Airflow's metadata: private IP only, IAM login, logged, backed up.

Airflow connects through the Cloud SQL Auth Proxy as its Google service account (IAM database
authentication), so no database password exists. Size, HA, backups, PITR, maintenance and deletion
protection come from the environment; what must never vary is fixed here with its reason.
"""

from __future__ import annotations

from cdktn_provider_google.sql_database import SqlDatabase
from cdktn_provider_google.sql_database_instance import (
    SqlDatabaseInstance,
    SqlDatabaseInstanceSettingsDatabaseFlags,
)
from cdktn_provider_google.sql_user import SqlUser
from constructs import Construct

from infra import naming
from infra.config import Environment
from stacks.iam import AirflowIdentity
from stacks.network import Network

# What migrations need on PostgreSQL 15+: `public` belongs to pg_database_owner, i.e. to the database's
# owner, which for a database Cloud SQL creates is `cloudsqlsuperuser` (NOSUPERUSER); a new IAM user holds
# only `cloudsqliamuser` and may create nothing there. Membership in the owner is the one grant that works.
DATABASE_ROLES = ("cloudsqlsuperuser",)

# Flags that must never vary: IAM login, and the logging CIS benchmarks and incident reviews rely on.
FIXED_FLAGS = {
    "cloudsql.iam_authentication": "on",
    "log_checkpoints": "on",
    "log_connections": "on",
    "log_disconnections": "on",
    "log_lock_waits": "on",
    "log_temp_files": "0",
    "log_min_messages": "error",
    "log_min_error_statement": "error",
    # -1: never log statement text by duration (statements may carry data the logs must not keep).
    "log_min_duration_statement": "-1",
    "log_statement": "ddl",
    "cloudsql.enable_pgaudit": "on",
    "pgaudit.log": "ddl,role",
}


def database_flags(config: Environment) -> dict[str, str]:
    """The fixed flags plus the environment's own (the model refuses overrides of these: FIXED_DATABASE_FLAGS)."""
    return {**config.database.flags, **FIXED_FLAGS}


class Database(Construct):
    """The Cloud SQL instance, the `airflow` database and the IAM user of Airflow's service account."""

    def __init__(self, scope: Construct, id_: str, *, config: Environment, network: Network, identity: AirflowIdentity) -> None:
        super().__init__(scope, id_)
        assert config.gcp is not None
        db, backups = config.database, config.database.backups

        self.instance = SqlDatabaseInstance(
            self,
            "instance",
            name=naming.name(config, "pg", "sql_instance"),
            region=config.gcp.region,
            database_version=f"POSTGRES_{db.postgres_version}",
            deletion_protection=db.deletion_protection,
            settings={
                "tier": db.tier,
                # The tiers the environment model accepts (db-custom-*, shared-core) are Enterprise edition tiers.
                "edition": "ENTERPRISE",
                "availability_type": "REGIONAL" if db.high_availability else "ZONAL",
                "disk_type": "PD_SSD",
                "disk_size": db.disk_size_gb,
                "disk_autoresize": True,
                "disk_autoresize_limit": db.disk_autoresize_limit_gb,
                "deletion_protection_enabled": db.deletion_protection,
                "ip_configuration": {
                    # Private IP only: the database is reachable from the VPC (the Auth Proxy on GKE), never the internet.
                    "ipv4_enabled": False,
                    "private_network": network.vpc.id,
                    # Plaintext is refused. The Auth Proxy always speaks mTLS with its own ephemeral certificates;
                    # ENCRYPTED_ONLY also lets a break-glass psql (IAM login, sslmode=require) in without client certs.
                    "ssl_mode": "ENCRYPTED_ONLY",
                },
                "backup_configuration": {
                    "enabled": backups.enabled,
                    "start_time": backups.start_time.strftime("%H:%M"),
                    "point_in_time_recovery_enabled": backups.point_in_time_recovery,
                    "transaction_log_retention_days": backups.transaction_log_retention_days,
                    "backup_retention_settings": {"retained_backups": backups.retained_backups, "retention_unit": "COUNT"},
                },
                "maintenance_window": {"day": db.maintenance.day, "hour": db.maintenance.hour, "update_track": "stable"},
                "insights_config": {
                    "query_insights_enabled": True,
                    "query_string_length": 1024,
                    "record_application_tags": True,
                    # Client addresses are pod IPs: noise, and personal data in some jurisdictions.
                    "record_client_address": False,
                },
                "database_flags": [
                    SqlDatabaseInstanceSettingsDatabaseFlags(name=key, value=value)
                    for key, value in sorted(database_flags(config).items())
                ],
                "user_labels": naming.labels(config),
            },
            # The private IP needs the peering with Google's service network to exist first.
            depends_on=[network.private_service_connection],
        )
        self.database = SqlDatabase(self, "airflow-db", name=naming.database_name(config), instance=self.instance.name)
        self.iam_user_name = naming.iam_database_user(config)
        self.iam_user = SqlUser(
            self,
            "airflow-iam-user",
            name=self.iam_user_name,
            instance=self.instance.name,
            type="CLOUD_IAM_SERVICE_ACCOUNT",
            database_roles=list(DATABASE_ROLES),
            depends_on=[identity.service_account],
        )
        # The stats Job's read-only identity; its SELECT grants are run by the migration Job (k8s/, read_only_grants).
        self.stats_user = SqlUser(
            self,
            "stats-iam-user",
            name=naming.stats_database_user(config),
            instance=self.instance.name,
            type="CLOUD_IAM_SERVICE_ACCOUNT",
            depends_on=[identity.stats.service_account],
        )
