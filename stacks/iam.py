"""Airflow's Google service account, bound through Workload Identity, with only the roles it needs.

Airflow's pods run as the Kubernetes service account `<namespace>/airflow`; Workload Identity lets
that account act as this Google service account, so no key file exists anywhere. Grants are as narrow
as the resource allows: object admin on its own task-logs bucket only, secret accessor on its own
secrets only (the connections by name prefix), Cloud SQL client + instance user for IAM database
login through the Auth Proxy, and log writer. No basic role (owner/editor/viewer) is granted anywhere.

`StatsIdentity` is a second, read-only identity for the `invoke stats` / `progress` Jobs (Cloud SQL login
only), so reading the metadata never borrows Airflow's own rights.
"""

from __future__ import annotations

from cdktn_provider_google.project_iam_member import ProjectIamMember
from cdktn_provider_google.secret_manager_secret_iam_member import SecretManagerSecretIamMember
from cdktn_provider_google.service_account import ServiceAccount
from cdktn_provider_google.service_account_iam_member import ServiceAccountIamMember
from cdktn_provider_google.storage_bucket import StorageBucket
from cdktn_provider_google.storage_bucket_iam_member import StorageBucketIamMember
from constructs import Construct

from infra import naming
from infra.config import Environment
from stacks.secret_manager import AirflowSecrets

PROJECT_ROLES = (
    "roles/cloudsql.client",  # connect through the Cloud SQL Auth Proxy
    "roles/cloudsql.instanceUser",  # log in with IAM database authentication
    "roles/logging.logWriter",  # write logs directly (e.g. from task code) besides stdout
)


def _workload_identity(
    scope: Construct, project: str, service_account: ServiceAccount, kubernetes_service_account: str
) -> ServiceAccountIamMember:
    """Let the pods running as `<namespace>/<name>` act as `service_account` (no key file anywhere)."""
    return ServiceAccountIamMember(
        scope,
        "workload-identity",
        service_account_id=service_account.name,
        role="roles/iam.workloadIdentityUser",
        member=f"serviceAccount:{project}.svc.id.goog[{kubernetes_service_account}]",
    )


def _grant_project_roles(scope: Construct, project: str, roles: tuple[str, ...], member: str) -> None:
    """One project-level grant per role, its construct id derived from the role (`cloudsql-client`)."""
    for role in roles:
        ProjectIamMember(scope, role.removeprefix("roles/").replace(".", "-"), project=project, role=role, member=member)


# The stats identity reads the metadata database and nothing else: IAM login through the connector.
STATS_PROJECT_ROLES = ("roles/cloudsql.client", "roles/cloudsql.instanceUser")


class StatsIdentity(Construct):
    """The read-only identity of `invoke stats` / `progress` Jobs: its own service account, never Airflow's.

    Its database user gets only SELECT on the tables the queries read (`infra.stats.read_only_grants`,
    run by the migration Job after `airflow db migrate`); here it gets just enough IAM to log in to Cloud SQL.
    """

    def __init__(self, scope: Construct, id_: str, *, config: Environment) -> None:
        super().__init__(scope, id_)
        assert config.gcp is not None
        project = config.gcp.project_id
        self.kubernetes_service_account = f"{naming.namespace(config)}/{naming.stats_kubernetes_service_account(config)}"
        self.service_account = ServiceAccount(
            self,
            "service-account",
            account_id=naming.stats_service_account_id(config),
            display_name=f"Airflow stats, read-only ({config.name})",
            description="Runs `invoke stats` Jobs: reads Airflow's metadata database, nothing else.",
        )
        self.email = naming.stats_service_account_email(config)
        self.workload_identity = _workload_identity(self, project, self.service_account, self.kubernetes_service_account)
        _grant_project_roles(self, project, STATS_PROJECT_ROLES, self.service_account.member)


class AirflowIdentity(Construct):
    """Airflow's Google service account, its Workload Identity binding and its grants."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: Environment,
        task_logs_bucket: StorageBucket,
        secrets: AirflowSecrets,
    ) -> None:
        super().__init__(scope, id_)
        assert config.gcp is not None
        project = config.gcp.project_id
        self.kubernetes_service_account = naming.kubernetes_service_account(config)
        self.stats = StatsIdentity(self, "stats", config=config)

        self.service_account = ServiceAccount(
            self,
            "airflow",
            account_id=naming.name(config, "airflow", "service_account"),
            display_name=f"Airflow ({config.name})",
            description="Runs every Airflow component through Workload Identity.",
        )
        self.email = naming.airflow_service_account(config)
        self.workload_identity = _workload_identity(self, project, self.service_account, self.kubernetes_service_account)
        member = self.service_account.member
        _grant_project_roles(self, project, PROJECT_ROLES, member)
        StorageBucketIamMember(
            self, "task-logs-object-admin", bucket=task_logs_bucket.name, role="roles/storage.objectAdmin", member=member
        )
        for key, secret in secrets.secrets.items():
            SecretManagerSecretIamMember(
                self,
                f"secret-{key.replace('_', '-')}-accessor",
                secret_id=secret.id,
                role="roles/secretmanager.secretAccessor",
                member=member,
            )
        # Connection and variable secrets are added by the team, not Terraform: grant by name prefix.
        for id_, kind, prefix in (
            ("connections-accessor", "connections", secrets.connections_prefix),
            ("variables-accessor", "variables", secrets.variables_prefix),
        ):
            ProjectIamMember(
                self,
                id_,
                project=project,
                role="roles/secretmanager.secretAccessor",
                member=member,
                condition={
                    "title": f"only-{prefix}",
                    "description": f"Read only the secrets under the environment's Airflow {kind} prefix.",
                    "expression": f'resource.name.extract("/secrets/{{name}}/").startsWith("{prefix}")',
                },
            )
