"""Credentials for a GKE cluster without gcloud: endpoint and CA from the GKE API, a token from google-auth.

`ClusterApi` is the thin adapter over google-cloud-container: it returns the cluster as the GKE REST
API's JSON (camelCase, enums as names), which is also the shape test payloads are written in. The
kubeconfig it produces carries a short-lived OAuth token, so the file is written readable by its owner
only.

    api = GoogleClusterApi()
    cluster = api.get_cluster(cluster_path(project, location, name))
    config = kubeconfig(cluster, access_token(credentials), context=f"gke_{project}_{location}_{name}")
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml

from infra.errors import UserError

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)


class ClusterApi(Protocol):
    def get_cluster(self, name: str) -> dict: ...


def cluster_path(project: str, location: str, name: str) -> str:
    return f"projects/{project}/locations/{location}/clusters/{name}"


def default_credentials() -> Any:
    """Application default credentials (a service account in CI, `gcloud auth application-default login` on a laptop)."""
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    try:
        credentials, _project = google.auth.default(scopes=list(SCOPES))
    except DefaultCredentialsError:
        raise UserError(
            "no Google credentials found: run `gcloud auth application-default login`, "
            "or set GOOGLE_APPLICATION_CREDENTIALS to a service account key file"
        ) from None
    return credentials


def access_token(credentials: Any) -> str:
    """A valid OAuth access token, refreshing the credentials when needed."""
    if not credentials.valid:
        import google.auth.transport.requests
        from google.auth.exceptions import RefreshError

        try:
            credentials.refresh(google.auth.transport.requests.Request())
        except RefreshError as exc:
            raise UserError(f"could not refresh Google credentials: {exc}") from None
    return credentials.token


class GoogleClusterApi:
    """google-cloud-container's ClusterManagerClient; `endpoint` points it elsewhere (tests, private access)."""

    def __init__(self, credentials: Any = None, *, endpoint: str | None = None):
        self.credentials = credentials
        self.endpoint = endpoint
        self._client = None

    def _get_client(self):
        if self._client is None:
            from google.cloud import container_v1  # heavy: loaded only by the tasks that talk to GKE

            options = {"api_endpoint": self.endpoint} if self.endpoint else None
            self._client = container_v1.ClusterManagerClient(
                credentials=self.credentials or default_credentials(), transport="rest", client_options=options
            )
        return self._client

    def get_cluster(self, name: str) -> dict:
        from google.api_core import exceptions
        from google.cloud import container_v1

        try:
            cluster = self._get_client().get_cluster(name=name, timeout=30)
        except exceptions.NotFound:
            raise UserError(f"GKE cluster {name} does not exist (has the infrastructure been applied?)") from None
        except exceptions.PermissionDenied as exc:
            raise UserError(f"no permission to read GKE cluster {name}: {exc.message}") from None
        except exceptions.GoogleAPICallError as exc:
            raise UserError(f"GKE API error for {name}: {exc.message}") from None
        # The REST API's own JSON: camelCase, enums by name, unset fields left out.
        text = container_v1.Cluster.to_json(cluster, use_integers_for_enums=False, always_print_fields_with_no_presence=False)
        return json.loads(text)


@dataclass(frozen=True)
class ClusterCredentials:
    server: str
    ca_data: str
    token: str
    context: str


def credentials_for(cluster: dict, token: str, context: str) -> ClusterCredentials:
    endpoint = cluster.get("endpoint")
    ca_data = (cluster.get("masterAuth") or {}).get("clusterCaCertificate")
    if not endpoint or not ca_data:
        raise UserError(f"GKE cluster {cluster.get('name')} has no endpoint or CA certificate yet (status {cluster.get('status')})")
    return ClusterCredentials(f"https://{endpoint}", ca_data, token, context)


def kubeconfig(creds: ClusterCredentials) -> dict:
    """A kubeconfig that needs no gcloud plugin: the token is embedded (it expires within the hour)."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": creds.context, "cluster": {"server": creds.server, "certificate-authority-data": creds.ca_data}}],
        "users": [{"name": creds.context, "user": {"token": creds.token}}],
        "contexts": [{"name": creds.context, "context": {"cluster": creds.context, "user": creds.context}}],
        "current-context": creds.context,
    }


def write_kubeconfig(config: dict, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        yaml.safe_dump(config, handle, sort_keys=False)
    os.chmod(path, 0o600)  # an existing file keeps its old mode through O_CREAT
    return path


def cluster_credentials(api: ClusterApi, credentials: Any, project: str, location: str, name: str) -> tuple[dict, ClusterCredentials]:
    """The cluster (REST JSON) and what kubectl/pulumi need to reach it."""
    cluster = api.get_cluster(cluster_path(project, location, name))
    creds = credentials_for(cluster, access_token(credentials), context=f"gke_{project}_{location}_{name}")
    return cluster, creds
