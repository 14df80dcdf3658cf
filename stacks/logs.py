"""Where logs are kept: project log sinks to a GCS archive and a Cloud Logging bucket, and the task-logs bucket.

Each sink in the environment file becomes two project sinks (a sink has one destination): one to the
archive bucket (cheap, long retention, colder classes as it ages) and one to a Cloud Logging bucket
(searchable, shorter retention). Each archive sink has its own writer identity, granted exactly the one
role it needs on the archive bucket; a sink into a log bucket of the same project has no writer identity
and needs no grant. Airflow's remote task logs go to a separate bucket.
"""

from __future__ import annotations

from cdktn_provider_google.logging_project_bucket_config import LoggingProjectBucketConfig
from cdktn_provider_google.logging_project_sink import LoggingProjectSink
from cdktn_provider_google.storage_bucket import (
    StorageBucket,
    StorageBucketLifecycleRule,
    StorageBucketLifecycleRuleAction,
    StorageBucketLifecycleRuleCondition,
)
from cdktn_provider_google.storage_bucket_iam_member import StorageBucketIamMember
from constructs import Construct

from infra import naming
from infra.config import Environment

DAY_SECONDS = 86_400


def _secure_bucket(scope: Construct, id_: str, *, config: Environment, name: str, **settings) -> StorageBucket:
    """A bucket with the settings every bucket here shares."""
    assert config.gcp is not None
    return StorageBucket(
        scope,
        id_,
        name=name,
        location=config.gcp.region.upper(),
        # ACLs make per-object grants possible; IAM on the bucket is the only access path we audit.
        uniform_bucket_level_access=True,
        # Logs must never be readable by allUsers, whatever IAM binding someone adds later.
        public_access_prevention="enforced",
        # A bucket full of logs must be emptied deliberately, never by `terraform destroy`.
        force_destroy=False,
        labels=naming.labels(config),
        **settings,
    )


class LogStorage(Construct):
    """Archive bucket, log bucket, the sinks routing into them and the task-logs bucket."""

    def __init__(self, scope: Construct, id_: str, *, config: Environment) -> None:
        super().__init__(scope, id_)
        assert config.gcp is not None
        project, archive = config.gcp.project_id, config.logging.archive

        archive_settings: dict = {
            "lifecycle_rule": [
                StorageBucketLifecycleRule(
                    action=StorageBucketLifecycleRuleAction(type="SetStorageClass", storage_class=rule.storage_class),
                    condition=StorageBucketLifecycleRuleCondition(age=rule.age_days),
                )
                for rule in archive.lifecycle
            ],
            # GCS refuses object versioning together with a retention policy; the policy protects more
            # (no delete or overwrite at all), so versioning is on only when there is no retention period.
            "versioning": {"enabled": archive.retention_days is None},
        }
        if archive.retention_days is not None:
            archive_settings["retention_policy"] = {
                "retention_period": str(archive.retention_days * DAY_SECONDS),
                "is_locked": archive.retention_locked,
            }
        self.archive_bucket = _secure_bucket(
            self, "archive-bucket", config=config, name=naming.archive_bucket(config), **archive_settings
        )

        self.task_logs_bucket = _secure_bucket(
            self,
            "task-logs-bucket",
            config=config,
            name=naming.task_logs_bucket(config),
            # Airflow re-uploads a task's log as it grows; versions let an overwritten log be recovered.
            versioning={"enabled": True},
            lifecycle_rule=[
                StorageBucketLifecycleRule(
                    action=StorageBucketLifecycleRuleAction(type="Delete"),
                    condition=StorageBucketLifecycleRuleCondition(age=config.logging.task_logs_retention_days),
                ),
                StorageBucketLifecycleRule(
                    action=StorageBucketLifecycleRuleAction(type="Delete"),
                    # Superseded uploads are only a safety net: a week is enough to notice a bad overwrite.
                    condition=StorageBucketLifecycleRuleCondition(days_since_noncurrent_time=7, with_state="ARCHIVED"),
                ),
            ],
        )

        log_bucket_id = naming.name(config, "logs", "log_bucket")
        self.log_bucket = LoggingProjectBucketConfig(
            self,
            "log-bucket",
            project=project,
            location=config.gcp.region,
            bucket_id=log_bucket_id,
            retention_days=config.logging.log_bucket_retention_days,
            description=f"Logs routed by the {config.name} environment's sinks.",
        )
        log_bucket_path = f"projects/{project}/locations/{config.gcp.region}/buckets/{log_bucket_id}"

        self.archive_sinks: dict[str, LoggingProjectSink] = {}
        self.log_bucket_sinks: dict[str, LoggingProjectSink] = {}
        for sink in config.logging.sinks:
            to_archive = LoggingProjectSink(
                self,
                f"sink-{sink.name}-archive",
                name=naming.name(config, f"{sink.name}-archive"),
                destination=f"storage.googleapis.com/{self.archive_bucket.name}",
                filter=sink.filter,
                # A writer identity per sink: revoking or auditing one route never touches another.
                unique_writer_identity=True,
            )
            StorageBucketIamMember(
                self,
                f"sink-{sink.name}-archive-writer",
                bucket=self.archive_bucket.name,
                role="roles/storage.objectCreator",
                member=to_archive.writer_identity,
            )
            to_log_bucket = LoggingProjectSink(
                self,
                f"sink-{sink.name}-logs",
                name=naming.name(config, f"{sink.name}-logs"),
                destination=f"logging.googleapis.com/{log_bucket_path}",
                filter=sink.filter,
                # A log bucket in the sink's own project needs no writer identity and no grant: Cloud
                # Logging writes there itself (the identity is empty; a grant to it fails the apply).
                unique_writer_identity=True,
                depends_on=[self.log_bucket],
            )
            self.archive_sinks[sink.name] = to_archive
            self.log_bucket_sinks[sink.name] = to_log_bucket
