"""Artifact Registry: one Docker repository per environment, immutable tags, pulled by the nodes only."""

from __future__ import annotations

from infra import naming


def test_the_image_repository_is_where_invoke_image_pushes(stack):
    repo = stack.one("google_artifact_registry_repository", "registry/repository")
    assert repo["format"] == "DOCKER"
    gcp = stack.env.gcp
    # The output the cluster side reads, rebuilt from the resource rather than from naming.image_repository.
    assert stack.output("image_repository") == (
        f"{repo['location']}-docker.pkg.dev/{gcp.project_id}/{repo['repository_id']}/airflow"
    )
    assert repo["repository_id"] == naming.artifact_repository(stack.env)


def test_tags_cannot_move(stack):
    repo = stack.one("google_artifact_registry_repository", "registry/repository")
    assert repo["docker_config"]["immutable_tags"] is True


def test_only_the_node_service_account_may_pull(stack):
    (grant,) = stack.all("google_artifact_registry_repository_iam_member").values()
    assert grant["role"] == "roles/artifactregistry.reader"
    assert stack.ref(grant["repository"]).path == "registry/repository"
    assert stack.ref(grant["member"].removeprefix("serviceAccount:")).path == "gke/node-sa"
