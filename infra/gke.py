"""Credentials for a GKE cluster: endpoint (and CA) from the GKE API, authentication by gke-gcloud-auth-plugin.

`ClusterApi` is the thin adapter over google-cloud-container: it returns the cluster as the GKE REST
API's JSON (camelCase, enums as names), which is also the shape test payloads are written in. The
kubeconfig names the standard exec credential plugin (`gke-gcloud-auth-plugin`, installed with the
Google Cloud CLI), which hands kubectl and pulumi a fresh token from the application default
credentials on every call. Only where the plugin is not on PATH does the file embed a short-lived token
instead; the file is created owner-only before anything is written to it.

The server is the cluster's DNS-based control-plane endpoint when it has one open to external traffic
(`controlPlaneEndpointsConfig.dnsEndpointConfig`): it is reached from anywhere, CI runners included, and
authorized by IAM alone, with a Google-issued certificate, so the kubeconfig names no CA — as
`gcloud container clusters get-credentials --dns-endpoint` writes it. Otherwise the IP endpoint and its CA
(reachable from the authorized networks only).

    api = GoogleClusterApi()
    cluster, creds = cluster_credentials(api, credentials, project, location, name)
    write_kubeconfig(kubeconfig(creds), path)
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml

from infra.errors import UserError

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
AUTH_PLUGIN = "gke-gcloud-auth-plugin"
# gcloud's own hint (googlecloudsdk/api_lib/container/kubeconfig.py), shown by kubectl when the plugin is missing.
INSTALL_HINT = (
    "Install gke-gcloud-auth-plugin for use with kubectl by following "
    "https://cloud.google.com/kubernetes-engine/docs/how-to/cluster-access-for-kubectl#install_plugin"
)


class ClusterApi(Protocol):
    def get_cluster(self, name: str) -> dict: ...


def cluster_path(project: str, location: str, name: str) -> str:
    return f"projects/{project}/locations/{location}/clusters/{name}"


def default_credentials() -> Any:
    """Application default credentials (a service account in CI, `gcloud auth application-default login` on a laptop)."""
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    from infra.gcp_apis import google_failure

    try:
        credentials, _project = google.auth.default(scopes=list(SCOPES))
    except DefaultCredentialsError as exc:
        raise UserError(google_failure(exc)) from None
    return credentials


def access_token(credentials: Any) -> str:
    """A valid OAuth access token, refreshing the credentials when needed."""
    if not credentials.valid:
        import google.auth.transport.requests
        from google.auth.exceptions import RefreshError, TransportError

        from infra.gcp_apis import google_failure

        try:
            credentials.refresh(google.auth.transport.requests.Request())
        except (RefreshError, TransportError) as exc:
            raise UserError(google_failure(exc)) from None
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
    ca_data: str | None  # None for the DNS endpoint: its certificate is Google-issued, checked against public roots
    context: str
    token: str | None = None  # only when gke-gcloud-auth-plugin is not installed


def dns_endpoint(cluster: dict) -> str | None:
    """The cluster's DNS-based control-plane endpoint, when it accepts traffic from outside Google Cloud."""
    config = (cluster.get("controlPlaneEndpointsConfig") or {}).get("dnsEndpointConfig") or {}
    return config.get("endpoint") if config.get("allowExternalTraffic") else None


def credentials_for(cluster: dict, context: str, token: str | None = None) -> ClusterCredentials:
    dns = dns_endpoint(cluster)
    if dns:
        return ClusterCredentials(f"https://{dns}", None, context, token)
    endpoint = cluster.get("endpoint")
    ca_data = (cluster.get("masterAuth") or {}).get("clusterCaCertificate")
    if not endpoint or not ca_data:
        raise UserError(f"GKE cluster {cluster.get('name')} has no endpoint or CA certificate yet (status {cluster.get('status')})")
    return ClusterCredentials(f"https://{endpoint}", ca_data, context, token)


def exec_plugin() -> dict:
    """The exec credential entry gcloud writes, using the same application default credentials as the deploy."""
    return {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "command": AUTH_PLUGIN,
        "args": ["--use_application_default_credentials"],
        "installHint": INSTALL_HINT,
        "provideClusterInfo": True,
    }


def kubeconfig(creds: ClusterCredentials) -> dict:
    """A kubeconfig for the cluster: the exec plugin, or the embedded token (it expires within the hour)."""
    user = {"token": creds.token} if creds.token else {"exec": exec_plugin()}
    cluster = {"server": creds.server, **({"certificate-authority-data": creds.ca_data} if creds.ca_data else {})}
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": creds.context, "cluster": cluster}],
        "users": [{"name": creds.context, "user": user}],
        "contexts": [{"name": creds.context, "context": {"cluster": creds.context, "user": creds.context}}],
        "current-context": creds.context,
    }


def write_kubeconfig(config: dict, path: Path) -> Path:
    """Write `config` to `path` through a new owner-only file, so no other user ever sees its contents."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(config, sort_keys=False)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.unlink(missing_ok=True)
    # O_EXCL: a new file, so mode 0600 holds (an existing file would keep its old mode through O_CREAT);
    # fchmod before the first byte, whatever the umask. The rename then replaces the old file at once.
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def cluster_credentials(api: ClusterApi, credentials: Any, project: str, location: str, name: str) -> tuple[dict, ClusterCredentials]:
    """The cluster (REST JSON) and what kubectl/pulumi need to reach it; a token only without the plugin."""
    cluster = api.get_cluster(cluster_path(project, location, name))
    return cluster, credentials_of(cluster, credentials, project, location, name)


def credentials_of(cluster: dict, credentials: Any, project: str, location: str, name: str) -> ClusterCredentials:
    """What kubectl/pulumi need to reach `cluster` (already read from the GKE API)."""
    token = None if shutil.which(AUTH_PLUGIN) else access_token(credentials or default_credentials())
    return credentials_for(cluster, context=f"gke_{project}_{location}_{name}", token=token)


def kubeconfig_file(root: Path, env_name: str) -> Path:
    """Where the toolkit keeps an environment's kubeconfig (git-ignored, owner-only)."""
    return root / "cdktf.out" / "kube" / f"{env_name}.yaml"


def environment_kubeconfig(env_name: str, outputs: dict, *, root: Path, cluster_api: ClusterApi | None = None) -> Path:
    """Write the kubeconfig of the cluster the terraform outputs name (fresh from the GKE API); its path."""
    keys = ("project_id", "cluster_location", "cluster_name")
    missing = [key for key in keys if not outputs.get(key)]
    if missing:
        raise UserError(f"no terraform output {', '.join(missing)} for {env_name}: has it been deployed (invoke deploy {env_name})?")
    api = cluster_api or GoogleClusterApi()
    _, creds = cluster_credentials(api, None, *(outputs[key] for key in keys))
    return write_kubeconfig(kubeconfig(creds), kubeconfig_file(root, env_name))
