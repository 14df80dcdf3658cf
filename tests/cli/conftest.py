"""Fixtures for the operator CLI: fake terraform/pulumi on PATH, a temporary git project, loopback Google APIs.

* ``fake_tools``: `terraform` and `pulumi` executables first on PATH that record argv and cwd
  (``fake_tools.commands()``) and print the real tools' output formats; ``fake_tools.env`` switches
  failures on (FAKE_TF_FAIL=plan, FAKE_TF_STALE=1, FAKE_TF_NO_CHANGES=1, FAKE_TF_OUTPUT_ONLY=1,
  FAKE_TF_PRINT_NOTHING=show).
* ``synthesized`` (session): real synthesis of dev and prod once; ``project`` copies it into a fresh git
  repository (branch main, one commit), so each test synthesizes from the cache in well under a second.
* ``fake_google``: one loopback HTTP server answering the GKE, Cloud Storage, Secret Manager, Cloud KMS
  and Artifact Registry REST paths that Google's client libraries call, with payloads in the real APIs'
  shapes (a secret version's CRC32C is checked); ``clients`` are the toolkit's real adapters pointed at
  it, with a recording bootstrap and the API server reached at ``airflow_api``.
* ``airflow_api``: a loopback Airflow REST API (health, canary DAG runs) whose answers a test sets.
"""

from __future__ import annotations

import base64
import json
import os
import sys
from pathlib import Path

import google_crc32c
import pytest

from tests.cli.helpers import FIXTURES, load_env, make_repo
from tests.loopback import JsonApi


# --- Fake executables ---------------------------------------------------------------------------------


class FakeTools:
    def __init__(self, bindir: Path, log: Path, monkeypatch):
        self.bindir, self.log, self.monkeypatch = bindir, log, monkeypatch

    def commands(self, tool: str | None = None) -> list[dict]:
        if not self.log.exists():
            return []
        entries = [json.loads(line) for line in self.log.read_text().splitlines()]
        return [e for e in entries if tool is None or e["tool"] == tool]

    def subcommands(self) -> list[str]:
        return [" ".join([e["tool"], *[a for a in e["argv"] if not a.startswith("-")][:1]]) for e in self.commands()]

    def env(self, name: str, value: str) -> None:
        self.monkeypatch.setenv(name, value)


@pytest.fixture
def fake_tools(tmp_path, monkeypatch) -> FakeTools:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("terraform", "pulumi"):
        script = bindir / tool
        script.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FIXTURES / f"fake_{tool}.py"}" "$@"\n')
        script.chmod(0o755)
    log = tmp_path / "commands.jsonl"
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_LOG", str(log))
    monkeypatch.setenv("FAKE_TF_PLAN_JSON", str(FIXTURES / "plan_prod.json"))
    monkeypatch.setenv("FAKE_TF_OUTPUTS", str(FIXTURES / "outputs_prod.json"))
    for name in ("TERRAFORM_BIN", "PULUMI_BIN", "FAKE_TF_FAIL", "FAKE_TF_STALE", "FAKE_TF_NO_CHANGES", "FAKE_TF_OUTPUT_ONLY",
                 "FAKE_TF_PRINT_NOTHING", "AIRFLOW_API_URL", "FAKE_PULUMI_FAIL", "FAKE_PULUMI_OUTPUTS"):
        monkeypatch.delenv(name, raising=False)
    return FakeTools(bindir, log, monkeypatch)


# --- A project in a temporary git repository -------------------------------------------------------


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory) -> Path:
    """cdktf.out with dev and prod synthesized for real (backend on), shared by every test."""
    from infra.synth import synth_environments

    outdir = tmp_path_factory.mktemp("synth") / "cdktf.out"
    synth_environments([load_env("dev"), load_env("prod")], outdir, backend=True)
    return outdir


@pytest.fixture
def project(tmp_path, synthesized) -> Path:
    return make_repo(tmp_path / "project", synthesized)


@pytest.fixture
def passing_policy(monkeypatch):
    """The policy gate has its own tests (real checkov); here it passes with realistic counts."""
    import infra.policy as policy

    def run_checkov(json_paths, **_):
        return policy.PolicyResult([policy.StackPolicy(json_path=Path(p), passed=212, failed=0, skipped=9, resources={"x"}) for p in json_paths])

    monkeypatch.setattr(policy, "run_checkov", run_checkov)


# --- Loopback HTTP servers -------------------------------------------------------------------------


class FakeGoogle:
    """GKE, Cloud Storage and Secret Manager, as far as the deploy uses them."""

    def __init__(self):
        self.cluster = json.loads((FIXTURES / "gke_cluster_prod.json").read_text())
        self.buckets: dict[str, dict] = {}
        self.forbidden_buckets: set[str] = set()  # exist, but belong to someone else
        self.versions: dict[str, list[bytes]] = {}
        self.secrets: set[str] | None = None  # the secrets that exist; None: any
        self.key_rings: dict[str, dict] = {}
        self.kms_forbidden = False  # the caller lacks cloudkms.keyRings.get
        self.image_tags: set[str] | None = None  # tags in the Artifact Registry repository; None: any
        self.server = JsonApi(self.handle)
        self.url = self.server.url

    def handle(self, method, path, query, body):
        parts = path.strip("/").split("/")
        if path.startswith("/v1/projects/") and "/clusters/" in path and method == "GET":
            if parts[-1] != self.cluster["name"]:
                return 404, {"error": {"code": 404, "message": f"Not found: {path}.", "status": "NOT_FOUND"}}
            return 200, self.cluster
        if path.startswith("/storage/v1/b"):
            if method == "POST":
                self.buckets[body["name"]] = {**body, "project": query["project"][0]}
                return 200, {"kind": "storage#bucket", "id": body["name"], "name": body["name"], "location": body["location"].upper()}
            name = parts[-1]
            if name in self.forbidden_buckets:
                return 403, {"error": {"code": 403, "message": f"deployer@x.iam.gserviceaccount.com does not have storage.buckets.get access to the Google Cloud Storage bucket {name}.", "errors": [{"reason": "forbidden"}]}}
            if name in self.buckets:
                return 200, {"kind": "storage#bucket", "id": name, "name": name}
            return 404, {"error": {"code": 404, "message": "The specified bucket does not exist.", "errors": [{"reason": "notFound"}]}}
        if path.startswith("/v1/projects/") and "/secrets/" in path:
            secret = parts[4].split(":")[0]
            if self.secrets is not None and secret not in self.secrets:
                return 404, {"error": {"code": 404, "message": f"Secret [projects/123456789/secrets/{secret}] not found or has no versions.", "status": "NOT_FOUND"}}
            if method == "GET" and path.endswith("/versions/latest:access"):
                if not self.versions.get(secret):
                    return 404, {"error": {"code": 404, "message": f"Secret [{secret}] not found or has no versions.", "status": "NOT_FOUND"}}
                number = len(self.versions[secret])
                data = base64.b64encode(self.versions[secret][-1]).decode()
                return 200, {"name": f"projects/123456789/secrets/{secret}/versions/{number}", "payload": {"data": data, "dataCrc32c": "0"}}
            if method == "POST" and path.endswith(":addVersion"):
                data = base64.b64decode(body["payload"]["data"])
                if int(body["payload"].get("dataCrc32c", -1)) != int(google_crc32c.Checksum(data).hexdigest(), 16):
                    return 400, {"error": {"code": 400, "message": "Checksum mismatch.", "status": "INVALID_ARGUMENT"}}
                self.versions.setdefault(secret, []).append(data)
                number = len(self.versions[secret])
                return 200, {"name": f"projects/123456789/secrets/{secret}/versions/{number}", "state": "ENABLED", "createTime": "2025-11-24T21:00:00Z"}
            versions = self.versions.get(secret, [])
            listed = [{"name": f"projects/123456789/secrets/{secret}/versions/{i + 1}", "state": "ENABLED"} for i in range(len(versions))]
            return 200, ({"versions": listed, "totalSize": len(listed)} if listed else {})
        if "/keyRings" in path:
            if self.kms_forbidden:
                return 403, {"error": {"code": 403, "message": "Permission 'cloudkms.keyRings.get' denied on resource (or it may not exist).", "status": "PERMISSION_DENIED"}}
            if method == "POST":
                name = f"{path.removeprefix('/v1/')}/{query['keyRingId'][0]}"
                if name in self.key_rings:
                    return 409, {"error": {"code": 409, "message": f"KeyRing {name} already exists.", "status": "ALREADY_EXISTS"}}
                self.key_rings[name] = {"name": name, "createTime": "2025-11-24T21:00:00Z"}
                return 200, self.key_rings[name]
            name = path.removeprefix("/v1/")
            if name in self.key_rings:
                return 200, self.key_rings[name]
            return 404, {"error": {"code": 404, "message": f"KeyRing {name} not found.", "status": "NOT_FOUND"}}
        if "/repositories/" in path and "/tags/" in path and method == "GET":
            if self.image_tags is None or parts[-1] in self.image_tags:
                return 200, {"name": path.removeprefix("/v1/"), "version": f"{path.rsplit('/packages/', 1)[0]}/versions/sha256:0"}
            return 404, {"error": {"code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND"}}
        return 404, {"error": {"code": 404, "message": f"fake google: no route for {method} {path}"}}


@pytest.fixture
def fake_google():
    google = FakeGoogle()
    # The OAuth client is added by a person (README); every other Airflow secret starts empty.
    for env_name in ("dev", "qa", "prod"):
        for purpose in ("oauth_client_id", "oauth_client_secret"):
            google.versions[f"af_{env_name}_{purpose}"] = [f"{purpose}-of-{env_name}".encode()]
    yield google
    google.server.close()


class FakeBootstrap:
    """Stands in for infra.bootstrap.bootstrap_gke (its own tests run it against a real API server)."""

    def __init__(self):
        self.calls: list[dict] = []

    def __call__(self, env, **kwargs):
        self.calls.append({"env": env.name, **kwargs})
        return "pools 1 created, variables 0, connections 0; first canary run exists"


@pytest.fixture
def clients(fake_google, airflow_api):
    from contextlib import contextmanager

    from google.oauth2.credentials import Credentials

    from infra.deploy import Clients
    from infra.gcp_apis import ArtifactRegistryApi, KeyRingApi, SecretVersionsApi, StateBucketApi
    from infra.gke import GoogleClusterApi
    from infra.image import ImageClients

    @contextmanager
    def api_server(env, kubeconfig):
        airflow_api.forwarded.append((env.name, kubeconfig))
        yield airflow_api.url

    creds = Credentials(token="fixture-access-token")
    return Clients(
        credentials=creds,
        cluster_api=GoogleClusterApi(creds, endpoint=fake_google.url),
        buckets=StateBucketApi(creds, endpoint=fake_google.url),
        secrets=SecretVersionsApi(creds, endpoint=fake_google.url),
        key_rings=KeyRingApi(creds, endpoint=fake_google.url),
        image=ImageClients(registry=ArtifactRegistryApi(creds, base_url=fake_google.url)),
        bootstrap=FakeBootstrap(),
        api_server=api_server,
    )


class FakeAirflow:
    def __init__(self):
        self.health = {
            "metadatabase": {"status": "healthy"},
            "scheduler": {"status": "healthy", "latest_scheduler_heartbeat": "2025-11-24T21:00:00+00:00"},
            "triggerer": {"status": "healthy", "latest_triggerer_heartbeat": "2025-11-24T21:00:01+00:00"},
            "dag_processor": {"status": "healthy", "latest_dag_processor_heartbeat": "2025-11-24T21:00:02+00:00"},
        }
        self.dag_runs: list[dict] = []
        self.token: str | None = "fixture-api-token"
        self.forwarded: list[tuple] = []  # (env, kubeconfig) of each port-forward the deploy opened
        self.server = JsonApi(self.handle)
        self.url = self.server.url

    def handle(self, method, path, query, body):
        if path == "/api/v2/monitor/health":
            return 200, self.health
        auth = self.server.requests[-1][2]["auth"]
        if self.token and auth != f"Bearer {self.token}":
            return 401, {"detail": "Not authenticated"}
        if path == "/api/v2/dags/system_canary/dagRuns":
            runs = sorted(self.dag_runs, key=lambda r: r["run_after"], reverse=query.get("order_by") == ["-run_after"])
            limit = int(query.get("limit", ["50"])[0])
            return 200, {"dag_runs": runs[:limit], "total_entries": len(runs)}
        return 404, {"detail": "Not Found"}


@pytest.fixture
def airflow_api():
    api = FakeAirflow()
    yield api
    api.server.close()
