"""`invoke image ENV`: build the platform image and push it to the environment's Artifact Registry repository.

The tag is the content hash of the build inputs (the Dockerfile, .dockerignore and every file its COPY
lines send), so the same inputs always give the same tag, and a tag that already exists is not built
again (checked through the Artifact Registry API; the repository's tags are immutable). The image is
built by a local Docker engine when one answers, else by Cloud Build from a tarball of exactly those
inputs uploaded to the project's Cloud Build bucket.
"""

from __future__ import annotations

import hashlib
import io
import shlex
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from infra import naming
from infra.config import ROOT, Environment
from infra.errors import UserError

PACKAGE = "airflow"  # the last part of naming.image_repository: the Artifact Registry package
SKIPPED_PARTS = ("__pycache__",)
SKIPPED_SUFFIXES = (".pyc",)
CLOUD_BUILD_TIMEOUT = 3600


def dockerfile_instructions(text: str) -> list[list[str]]:
    """The Dockerfile's instructions as word lists (comments dropped, `\\` continuations joined)."""
    instructions, current = [], ""
    for line in text.splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        current += line.rstrip().removesuffix("\\") + " "
        if not line.rstrip().endswith("\\"):
            instructions.append(shlex.split(current))
            current = ""
    return instructions


def copies(root: Path = ROOT) -> list[tuple[list[str], str]]:
    """The Dockerfile's COPY instructions as (sources relative to the build context, destination)."""
    found = []
    for words in dockerfile_instructions((root / "Dockerfile").read_text()):
        if words[0].upper() == "COPY":
            args = [w for w in words[1:] if not w.startswith("--")]
            found.append((args[:-1], args[-1]))
    return found


def copy_sources(root: Path = ROOT) -> list[str]:
    """Every source path of the Dockerfile's COPY instructions (relative to the build context)."""
    return [source for sources, _ in copies(root) for source in sources]


def build_inputs(root: Path = ROOT) -> list[Path]:
    """The files the build reads, sorted: a missing COPY source is an error naming it."""
    files = {root / "Dockerfile", root / ".dockerignore"}
    for source in copy_sources(root):
        path = root / source
        if not path.exists():
            raise UserError(f"Dockerfile: COPY {source}: no such file or folder in {root}")
        found = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        files.update(p for p in found if not set(p.relative_to(root).parts) & set(SKIPPED_PARTS) and p.suffix not in SKIPPED_SUFFIXES)
    return sorted(files)


def content_tag(root: Path = ROOT) -> str:
    """A tag naming exactly these inputs: sha256 over each file's path and bytes."""
    digest = hashlib.sha256()
    for path in build_inputs(root):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return f"c{digest.hexdigest()[:24]}"


def context_tarball(root: Path = ROOT) -> bytes:
    """The build context as a reproducible .tar.gz: only the inputs, fixed owners and times."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        for path in build_inputs(root):
            info = tar.gettarinfo(str(path), arcname=path.relative_to(root).as_posix())
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0
            with open(path, "rb") as handle:
                tar.addfile(info, handle)
    return buffer.getvalue()


def docker_answers() -> bool:
    if not shutil.which("docker"):
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=15).returncode == 0
    except subprocess.TimeoutExpired:
        return False


@dataclass
class ImageClients:
    """The Google APIs `image` calls; tests give loopback-backed ones."""

    registry: object = None
    uploads: object = None
    cloud_build: object = None

    def get_registry(self):
        if self.registry is None:
            from infra.gcp_apis import ArtifactRegistryApi

            self.registry = ArtifactRegistryApi()
        return self.registry


def _cloud_build(env: Environment, image: str, root: Path, clients: ImageClients, console: Console) -> None:
    from google.cloud.devtools import cloudbuild_v1

    from infra.gcp_apis import UploadApi

    project = env.gcp.project_id
    bucket, blob = f"{project}_cloudbuild", f"source/{image.rsplit(':', 1)[1]}.tar.gz"
    (clients.uploads or UploadApi()).upload(bucket, blob, context_tarball(root))
    client = clients.cloud_build or cloudbuild_v1.CloudBuildClient()
    build = cloudbuild_v1.Build(
        source=cloudbuild_v1.Source(storage_source=cloudbuild_v1.StorageSource(bucket=bucket, object_=blob)),
        steps=[cloudbuild_v1.BuildStep(name="gcr.io/cloud-builders/docker", args=["build", "-t", image, "."])],
        images=[image],
        timeout={"seconds": CLOUD_BUILD_TIMEOUT},
    )
    console.print(f"  Cloud Build in {project} from gs://{bucket}/{blob}", highlight=False)
    operation = client.create_build(project_id=project, build=build)
    result = operation.result(timeout=CLOUD_BUILD_TIMEOUT)
    if result.status != cloudbuild_v1.Build.Status.SUCCESS:
        raise UserError(f"Cloud Build {result.id} ended {result.status.name}: {result.log_url}")


def _docker_build(image: str, root: Path) -> None:
    for args in (["docker", "build", "-t", image, str(root)], ["docker", "push", image]):
        done = subprocess.run(args, capture_output=True, text=True)
        if done.returncode:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise UserError(f"`{' '.join(args)}` failed: {tail[0]}")


def image(env: Environment, *, dry_run: bool = False, root: Path = ROOT, clients: ImageClients | None = None,
          console: Console | None = None, use_docker: bool | None = None) -> str:
    """Build and push `env`'s image unless its content tag exists; returns the image reference."""
    if env.gcp is None:
        raise UserError(f"environment {env.name} has runtime {env.runtime}: it runs the project's code directly, no image")
    console = console or Console(stderr=True)
    clients = clients or ImageClients()
    tag = content_tag(root)
    reference = f"{naming.image_repository(env)}:{tag}"
    repository = naming.artifact_repository(env)
    if clients.get_registry().tag_exists(env.gcp.project_id, env.gcp.region, repository, PACKAGE, tag):
        console.print(f"{reference} exists: nothing to build", highlight=False)
        return reference
    docker = docker_answers() if use_docker is None else use_docker
    how = "the local Docker engine" if docker else "Cloud Build"
    if dry_run:
        console.print(f"would build {reference} with {how} and push it", highlight=False)
        return reference
    console.print(f"building {reference} with {how}", highlight=False)
    if docker:
        _docker_build(reference, root)
    else:
        _cloud_build(env, reference, root, clients, console)
    console.print(f"pushed {reference}", highlight=False)
    return reference
