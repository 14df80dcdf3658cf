"""What the k8s/ program needs from the stacks: the Cloud KMS key of its secrets, and the UI's address.

The key encrypts the secrets in the environment's Pulumi stack (`--secrets-provider gcpkms://...`); it
lives in the project's key ring `af-pulumi`, referenced here by id and never created by a stack: key
rings cannot be deleted, and one ring is shared by every environment in a project, so no environment's
destroy may own it. The deploy's init step creates the ring when it is missing (like the state bucket).
The global static address is what `airflow.ui.host`'s DNS record points at and what the GKE Ingress
claims by name; internal-only environments (host null) reserve none.
"""

from __future__ import annotations

from cdktn_provider_google.compute_global_address import ComputeGlobalAddress
from cdktn_provider_google.kms_crypto_key import KmsCryptoKey
from constructs import Construct

from infra import naming
from infra.config import Environment

# 90 days: older versions still decrypt what they encrypted, new secrets use the newest version.
ROTATION_PERIOD = f"{90 * 24 * 3600}s"


class ClusterSide(Construct):
    """`secrets_key` (Pulumi's secrets provider) always; `ui_address` only when the UI has a public host."""

    def __init__(self, scope: Construct, id_: str, *, config: Environment) -> None:
        super().__init__(scope, id_)
        self.secrets_key = KmsCryptoKey(
            self,
            "pulumi-secrets-key",
            name=naming.pulumi_secrets_key(config),
            key_ring=naming.pulumi_key_ring(config),
            purpose="ENCRYPT_DECRYPT",
            rotation_period=ROTATION_PERIOD,
            labels=naming.labels(config),
            # Losing the key loses every secret in the Pulumi state: a destroy only schedules its versions
            # for destruction (30 days, restorable), and an apply never replaces it silently.
            lifecycle={"prevent_destroy": config.protected},
        )
        self.secrets_provider = f"gcpkms://{self.secrets_key.id}"
        self.ui_address = None
        if config.airflow.ui.host:
            self.ui_address = ComputeGlobalAddress(
                self,
                "ui-address",
                name=naming.ui_address(config),
                address_type="EXTERNAL",
                ip_version="IPV4",
                description=f"The Airflow UI of {config.name} ({config.airflow.ui.host}): point its DNS record here.",
                labels=naming.labels(config),
            )
