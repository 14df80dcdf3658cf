"""The Terraform stack of one GCP environment: composes the constructs, wires the outputs, sets the backend.

One stack per environment (not per concern): cross-stack references would break plans in pull
requests before the producing stack is applied. The output names are a contract: the CLI and the
cluster side read them by name.
"""

from __future__ import annotations

from cdktn import GcsBackend, LocalBackend, TerraformOutput, TerraformStack
from cdktn_provider_google.provider import GoogleProvider
from constructs import Construct

from infra import naming
from infra.config import Environment
from stacks.cluster_side import ClusterSide
from stacks.database import Database
from stacks.gke import Gke
from stacks.iam import AirflowIdentity
from stacks.logs import LogStorage
from stacks.network import Network
from stacks.registry import ImageRegistry
from stacks.secret_manager import AirflowSecrets
from stacks.spark import SparkRuntime


class EnvironmentStack(TerraformStack):
    """Everything GCP-side for one environment; `backend=False` keeps state in the stack folder (tests, offline plans)."""

    def __init__(self, scope: Construct, *, config: Environment, backend: bool = True) -> None:
        assert config.gcp is not None, "only runtime gke environments have a stack"
        super().__init__(scope, naming.stack_name(config))
        gcp = config.gcp
        GoogleProvider(self, "google", project=gcp.project_id, region=gcp.region, default_labels=naming.labels(config))
        if backend:
            GcsBackend(self, bucket=gcp.state_bucket, prefix=naming.stack_name(config))
        else:
            # Without it CDK Terrain writes an absolute path under the current directory into the JSON;
            # relative to the stack's folder, the output is the same on every machine.
            LocalBackend(self, path="terraform.tfstate")

        self.network = Network(self, "network", config=config)
        self.logs = LogStorage(self, "logs", config=config)
        self.secrets = AirflowSecrets(self, "secrets", config=config)
        self.identity = AirflowIdentity(
            self, "iam", config=config, task_logs_bucket=self.logs.task_logs_bucket, secrets=self.secrets
        )
        self.database = Database(self, "database", config=config, network=self.network, identity=self.identity)
        self.gke = Gke(self, "gke", config=config, network=self.network)
        self.registry = ImageRegistry(self, "registry", config=config, gke=self.gke)
        self.cluster_side = ClusterSide(self, "cluster-side", config=config)
        self.spark = None
        if config.spark is not None and config.spark.target == "dataproc":
            self.spark = SparkRuntime(self, "spark", config=config, network=self.network, identity=self.identity)

        outputs = {
            "cluster_name": self.gke.cluster.name,
            "cluster_location": self.gke.location,
            "cluster_endpoint": self.gke.cluster.endpoint,
            "cluster_dns_endpoint": self.gke.cluster.control_plane_endpoints_config.dns_endpoint_config.endpoint,
            "sql_instance_name": self.database.instance.name,
            "sql_connection_name": self.database.instance.connection_name,
            "sql_private_ip": self.database.instance.private_ip_address,
            "database_name": self.database.database.name,
            "sql_iam_user": self.database.iam_user_name,
            "archive_bucket": self.logs.archive_bucket.name,
            "task_logs_bucket": self.logs.task_logs_bucket.name,
            "log_bucket": self.logs.log_bucket.bucket_id,
            "airflow_service_account": self.identity.service_account.email,
            "kubernetes_service_account": self.identity.kubernetes_service_account,
            "node_service_account": self.gke.node_service_account.email,
            "secret_ids": self.secrets.secret_ids,
            "connections_secret_prefix": self.secrets.connections_prefix,
            "variables_secret_prefix": self.secrets.variables_prefix,
            "state_bucket": gcp.state_bucket,
            "project_id": gcp.project_id,
            "region": gcp.region,
            "namespace": naming.namespace(config),
            "oauth_secret_ids": self.secrets.oauth_secret_ids,
            "image_repository": naming.image_repository(config),
        }
        outputs["pulumi_secrets_provider"] = self.cluster_side.secrets_provider
        if self.cluster_side.ui_address is not None:
            outputs["ui_address"] = self.cluster_side.ui_address.address
        if self.spark is not None:
            outputs["spark_service_account"] = self.spark.service_account.email
            outputs["spark_staging_bucket"] = self.spark.staging_bucket.name
        for name, value in outputs.items():
            # static_id: the output is named exactly `name`, not a generated id.
            TerraformOutput(self, name, value=value, static_id=True)
