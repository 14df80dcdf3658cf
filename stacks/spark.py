"""What Dataproc Serverless needs to run an environment's Spark jobs: an identity, a bucket, network access.

* a runtime service account (`naming.spark_service_account`) with `roles/dataproc.worker` only: batches
  run as it, never as Airflow's own identity or the Compute Engine default account;
* `roles/iam.serviceAccountUser` for Airflow's identity on that account alone, so Airflow may submit
  batches that run as it (and as no other account);
* the staging bucket (`naming.spark_staging_bucket`), hardened like the log buckets, holding Dataproc's
  staging files, the synced DAG repository's scripts (`dags/`) and jars; Airflow writes it, the runtime
  account reads and writes its own staging files;
* Private Google Access on the subnetwork the batches run in: their VMs have no external IP. The network
  construct already turns it on for the nodes; the check here keeps it from being turned off unnoticed.
"""

from __future__ import annotations

from cdktn_provider_google.project_iam_member import ProjectIamMember
from cdktn_provider_google.service_account import ServiceAccount
from cdktn_provider_google.service_account_iam_member import ServiceAccountIamMember
from cdktn_provider_google.storage_bucket import StorageBucketLifecycleRule, StorageBucketLifecycleRuleAction, StorageBucketLifecycleRuleCondition
from cdktn_provider_google.storage_bucket_iam_member import StorageBucketIamMember
from constructs import Construct

from infra import naming
from infra.config import Environment
from stacks.iam import AirflowIdentity
from stacks.logs import _secure_bucket
from stacks.network import Network


class SparkRuntime(Construct):
    """Dataproc Serverless runtime for one environment: `service_account`, `staging_bucket`, the grants."""

    def __init__(self, scope: Construct, id_: str, *, config: Environment, network: Network, identity: AirflowIdentity) -> None:
        super().__init__(scope, id_)
        assert config.gcp is not None
        project = config.gcp.project_id
        if not network.subnet.private_ip_google_access_input:
            # Batch VMs have no external IP: without Private Google Access they cannot reach GCS or Dataproc.
            raise ValueError("Spark on Dataproc needs Private Google Access on the subnetwork")
        self.service_account = ServiceAccount(
            self,
            "runtime",
            account_id=naming.name(config, "spark", "service_account"),
            display_name=f"Dataproc Serverless runtime ({config.name})",
        )
        self.email = naming.spark_service_account(config)
        member = self.service_account.member
        self.worker_role = ProjectIamMember(self, "dataproc-worker", project=project, role="roles/dataproc.worker", member=member)
        # Airflow submits batches that run as the runtime account: it may act as that account only.
        self.airflow_acts_as = ServiceAccountIamMember(
            self,
            "airflow-acts-as-runtime",
            service_account_id=self.service_account.name,
            role="roles/iam.serviceAccountUser",
            member=identity.service_account.member,
        )
        self.staging_bucket = _secure_bucket(
            self,
            "staging-bucket",
            config=config,
            name=naming.spark_staging_bucket(config),
            # Scripts are overwritten by every DAG sync; versions let a bad sync be rolled back.
            versioning={"enabled": True},
            lifecycle_rule=[
                StorageBucketLifecycleRule(
                    action=StorageBucketLifecycleRuleAction(type="Delete"),
                    condition=StorageBucketLifecycleRuleCondition(days_since_noncurrent_time=30, with_state="ARCHIVED"),
                )
            ],
        )
        self.runtime_access = StorageBucketIamMember(
            self, "runtime-objects", bucket=self.staging_bucket.name, role="roles/storage.objectAdmin", member=member
        )
        self.airflow_access = StorageBucketIamMember(
            self,
            "airflow-objects",
            bucket=self.staging_bucket.name,
            role="roles/storage.objectAdmin",
            member=identity.service_account.member,
        )
