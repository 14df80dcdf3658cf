"""Artifact Registry: the Docker repository the platform image is pushed to, readable by the GKE nodes."""

from __future__ import annotations

from cdktn_provider_google.artifact_registry_repository import ArtifactRegistryRepository
from cdktn_provider_google.artifact_registry_repository_iam_member import ArtifactRegistryRepositoryIamMember
from constructs import Construct

from infra import naming
from infra.config import Environment
from stacks.gke import Gke


class ImageRegistry(Construct):
    """One Docker repository per environment; the nodes pull from it, nothing else is granted."""

    def __init__(self, scope: Construct, id_: str, *, config: Environment, gke: Gke) -> None:
        super().__init__(scope, id_)
        assert config.gcp is not None
        self.repository = ArtifactRegistryRepository(
            self,
            "repository",
            repository_id=naming.artifact_repository(config),
            location=config.gcp.region,
            format="DOCKER",
            description="The Airflow platform image, tagged by the content hash of its build inputs.",
            # A tag names exactly one build: `invoke image` never rebuilds an existing tag, so it must not move.
            docker_config={"immutable_tags": True},
            labels=naming.labels(config),
        )
        self.reader = ArtifactRegistryRepositoryIamMember(
            self,
            "nodes-read",
            repository=self.repository.name,
            location=config.gcp.region,
            role="roles/artifactregistry.reader",
            member=f"serviceAccount:{gke.node_service_account.email}",
        )
