"""Secret Manager secrets Airflow reads at runtime, created empty.

Terraform creates the secrets (name, replication, labels, who may read them) but never their values:
the deploy task generates each value and adds it as a secret version through the Secret Manager API,
so no secret value ever appears in synthesized JSON, in a plan or in Terraform state. Airflow
connections and variables live under prefixes (`connections_prefix` / `variables_prefix` of Airflow's
Secret Manager backend); they are added by the team, one secret each, and are readable through
prefix-scoped grants (iam.py).
"""

from __future__ import annotations

from cdktn_provider_google.secret_manager_secret import SecretManagerSecret
from constructs import Construct

from infra import naming
from infra.config import Environment

class AirflowSecrets(Construct):
    """The secrets Airflow needs (fernet key, API secret key, JWT secret; the broker's with Celery) and the
    connections and variables prefixes, and the OAuth client of Google sign-in. Keys of `secret_ids` are the
    names in the `secret_ids` output."""

    def __init__(self, scope: Construct, id_: str, *, config: Environment) -> None:
        super().__init__(scope, id_)
        self.secrets: dict[str, SecretManagerSecret] = {}
        self.secret_ids: dict[str, str] = {}
        for key in naming.airflow_secrets(config):
            secret_id = naming.secret_id(config, key)
            self.secret_ids[key] = secret_id
            self.secrets[key] = SecretManagerSecret(
                self,
                key.replace("_", "-"),
                secret_id=secret_id,
                # Google-managed replication: the values are small and must survive a regional outage.
                replication={"auto": {}},
                labels=naming.labels(config),
            )
        self.connections_prefix = naming.connections_prefix(config)
        self.variables_prefix = naming.variables_prefix(config)
        # Google sign-in: the OAuth client is made in the Google Cloud console, so the team adds both values
        # (the deploy cannot generate them). Read by the deploy into the cluster, not by Airflow: no grant.
        self.oauth_secret_ids = {
            "client_id": naming.oauth_client_id_secret(config),
            "client_secret": naming.oauth_client_secret_secret(config),
        }
        self.oauth_secrets = {
            key: SecretManagerSecret(
                self, f"oauth-{key.replace('_', '-')}", secret_id=secret_id, replication={"auto": {}},
                labels=naming.labels(config),
            )
            for key, secret_id in self.oauth_secret_ids.items()
        }
