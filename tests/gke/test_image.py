"""The platform image: the Dockerfile's inputs exist and resolve, the tag is a content hash, no rebuild of a tag.

No Docker engine exists here: the Dockerfile's pip line runs with `pip install --dry-run` against the
repository's constraints, and the Artifact Registry and Cloud Storage APIs are a loopback server
answering in their JSON shapes; Cloud Build is a recording stand-in for its client.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import tarfile
import urllib.parse
from pathlib import Path

import pytest
from google.oauth2.credentials import Credentials
from rich.console import Console

from infra import naming
from infra.errors import UserError
from infra.gcp_apis import ArtifactRegistryApi, UploadApi
from infra.image import ImageClients, build_inputs, content_tag, copy_sources, dockerfile_instructions, image
from tests.cli.helpers import load_env
from tests.loopback import Loopback, QuietHandler

ROOT = Path(__file__).resolve().parents[2]
PROVIDERS = {"google", "cncf-kubernetes", "slack", "pagerduty", "postgres", "git", "fab"}


def _pip_line() -> list[str]:
    (words,) = [w for w in dockerfile_instructions((ROOT / "Dockerfile").read_text()) if "pip" in w and "install" in w]
    return words[words.index("install") + 1:]


def test_every_copy_source_exists():
    sources = copy_sources(ROOT)
    assert {"dags/platform_dags/", "platform_schema/", "constraints.txt"} <= set(sources)
    for source in sources:
        assert (ROOT / source).exists(), f"Dockerfile: COPY {source}: missing"


def test_the_image_installs_every_provider_the_platform_needs_at_the_pinned_versions():
    args = _pip_line()
    assert args[args.index("-c") + 1] == "/opt/platform/constraints.txt"
    packages = [a for a in args if not a.startswith("-") and a != "/opt/platform/constraints.txt"]
    names = {p.split("[")[0].split("==")[0].removeprefix("apache-airflow-providers-") for p in packages}
    assert PROVIDERS <= names, PROVIDERS - names
    pinned = {line.split("==")[0].lower() for line in (ROOT / "constraints.txt").read_text().splitlines() if "==" in line}
    for package in packages:
        assert package.split("[")[0].split("==")[0].lower() in pinned, f"{package} is not pinned in constraints.txt"


@pytest.mark.integration
def test_the_dockerfile_pip_line_resolves_to_the_constraints_versions(tmp_path):
    args = [("constraints.txt" if a == "/opt/platform/constraints.txt" else a) for a in _pip_line() if a != "--no-cache-dir"]
    report = tmp_path / "report.json"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet", "--disable-pip-version-check",
         "--report", str(report), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    resolved = {i["metadata"]["name"].lower(): i["metadata"]["version"] for i in json.loads(report.read_text())["install"]}
    pinned = dict(line.lower().split("==") for line in (ROOT / "constraints.txt").read_text().splitlines() if "==" in line)
    for provider in PROVIDERS:
        name = f"apache-airflow-providers-{provider}"
        assert resolved.get(name) == pinned[name], f"{name}: resolved {resolved.get(name)}, constraints say {pinned[name]}"
    assert resolved["authlib"] == pinned["authlib"]  # fab[oauth]: Google sign-in's OAuth client


def _project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    for name in ("Dockerfile", ".dockerignore", "constraints.txt", "README.md"):
        shutil.copy(ROOT / name, root / name)
    for folder in ("dags", "platform_schema"):
        shutil.copytree(ROOT / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return root


def test_the_tag_follows_the_build_inputs_and_nothing_else(tmp_path):
    root = _project(tmp_path)
    first = content_tag(root)
    assert content_tag(root) == first
    (root / "README.md").write_text("edited\n")
    (root / "dags" / "pipelines" / "meetup_nightly.yaml").write_text("# not in the image\n")
    (root / "dags" / "platform_dags" / "__pycache__").mkdir(exist_ok=True)
    (root / "dags" / "platform_dags" / "__pycache__" / "x.pyc").write_bytes(b"junk")
    assert content_tag(root) == first, "a file the image does not contain changed the tag"
    probe = root / "dags" / "platform_dags" / "probe.py"
    probe.write_text(probe.read_text() + "\n# changed\n")
    assert content_tag(root) != first


def test_a_missing_copy_source_is_one_line(tmp_path):
    root = _project(tmp_path)
    (root / "dags" / "system_queued_watch.py").unlink()
    with pytest.raises(UserError) as error:
        build_inputs(root)
    assert str(error.value) == f"Dockerfile: COPY dags/system_queued_watch.py: no such file or folder in {root}"


class FakeGoogle(Loopback):
    """Artifact Registry tags and Cloud Storage uploads, in their JSON shapes."""

    def __init__(self):
        self.tags: set[str] = set()
        self.uploads: dict[str, bytes] = {}
        self.requests: list[str] = []
        fake = self

        class Handler(QuietHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                fake.requests.append(f"GET {self.path}")
                path = urllib.parse.unquote(urllib.parse.urlparse(self.path).path)
                tag = path.rsplit("/tags/", 1)[-1]
                if "/packages/airflow/tags/" in path and tag in fake.tags:
                    return self.reply(200, {"name": path.removeprefix("/v1/"), "version": f"{path.split('/tags/')[0]}/versions/sha256:0"})
                return self.reply(404, {"error": {"code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND"}})

            def do_POST(self):  # noqa: N802
                fake.requests.append(f"POST {self.path}")
                body = self.body()
                # google-cloud-storage sends a small object as multipart/related: JSON metadata, then the data.
                boundary = self.headers["Content-Type"].split("boundary=")[1].strip('"').encode()
                parts = [part.split(b"\r\n\r\n", 1)[1].removesuffix(b"\r\n") for part in body.split(b"--" + boundary)[1:-1]]
                name = json.loads(parts[0])["name"]
                fake.uploads[name] = parts[1]
                return self.reply(200, {"kind": "storage#object", "name": name})

        super().__init__(Handler)


class RecordingCloudBuild:
    """Stands in for `CloudBuildClient`: records the build, which succeeds."""

    def __init__(self):
        self.builds = []

    def create_build(self, project_id, build):
        from google.cloud.devtools import cloudbuild_v1

        self.builds.append((project_id, build))

        class Operation:
            def result(self, timeout=None):
                return cloudbuild_v1.Build(id="b-1", status=cloudbuild_v1.Build.Status.SUCCESS)

        return Operation()


@pytest.fixture
def google():
    fake = FakeGoogle()
    yield fake
    fake.close()


def _clients(google, cloud_build=None) -> ImageClients:
    creds = Credentials(token="fixture-access-token")
    return ImageClients(registry=ArtifactRegistryApi(creds, base_url=google.url),
                        uploads=UploadApi(creds, endpoint=google.url), cloud_build=cloud_build or RecordingCloudBuild())


def _out() -> Console:
    return Console(record=True, width=300, file=io.StringIO())


def test_an_existing_tag_is_not_rebuilt(google):
    env = load_env("prod")
    google.tags.add(content_tag(ROOT))
    clients, out = _clients(google), _out()
    reference = image(env, clients=clients, console=out, use_docker=False)
    assert reference == f"europe-west1-docker.pkg.dev/acme-airflow-prod/{naming.artifact_repository(env)}/airflow:{content_tag(ROOT)}"
    assert "exists: nothing to build" in out.export_text()
    assert clients.cloud_build.builds == [] and google.uploads == {}


def test_a_new_tag_is_built_by_cloud_build_from_exactly_the_inputs(google):
    env = load_env("prod")
    clients, out = _clients(google), _out()
    reference = image(env, clients=clients, console=out, use_docker=False)
    ((project, build),) = clients.cloud_build.builds
    assert project == "acme-airflow-prod"
    assert list(build.images) == [reference]
    assert list(build.steps[0].args) == ["build", "-t", reference, "."]
    source = build.source.storage_source
    assert source.bucket == "acme-airflow-prod_cloudbuild"
    with tarfile.open(fileobj=io.BytesIO(google.uploads[source.object_]), mode="r:gz") as tar:
        names = set(tar.getnames())
    assert names == {p.relative_to(ROOT).as_posix() for p in build_inputs(ROOT)}
    assert "Dockerfile" in names and "dags/platform_dags/probe.py" in names and "README.md" not in names


def test_dry_run_checks_the_registry_and_builds_nothing(google):
    clients, out = _clients(google), _out()
    image(load_env("dev"), dry_run=True, clients=clients, console=out, use_docker=False)
    text = out.export_text()
    assert text.startswith(f"would build {naming.image_repository(load_env('dev'))}:{content_tag(ROOT)} with Cloud Build")
    assert clients.cloud_build.builds == [] and google.uploads == {}
    assert any("/packages/airflow/tags/" in r for r in google.requests)


def test_local_has_no_image():
    with pytest.raises(UserError) as error:
        image(load_env("local"), dry_run=True)
    assert "runs the project's code directly, no image" in str(error.value)
