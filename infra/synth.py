"""Synthesize the Terraform JSON of GCP environments into cdktf.out/stacks/<env>/cdk.tf.json, with a cache.

Loading the provider bindings costs seconds, so an environment whose inputs did not change is not
synthesized again: a content hash of everything the output depends on (the validated environment, the
sources under stacks/ and infra/, the versions of the CDK Terrain packages, the backend flag) is written
beside the JSON, and a matching hash with the JSON present means the JSON is current. That path never
imports CDK Terrain.

Synthesis is atomic: stacks are written into a temporary folder and moved into place only when every
requested environment synthesized, so an error leaves the previous output untouched.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from infra import naming
from infra.config import ROOT, Environment
from platform_schema import shown_path

HASH_FILE = ".synth-hash"
STACK_FILE = "cdk.tf.json"
# Packages whose code shapes the synthesized JSON besides our own sources.
PACKAGES = ("cdktn", "cdktn-provider-google", "constructs", "jsii")
SOURCE_DIRS = ("stacks", "infra", "platform_schema")


@dataclass(frozen=True)
class SynthResult:
    """One environment's synthesized stack."""

    env: str
    stack_dir: Path
    json_path: Path
    resource_counts: dict[str, int]
    cached: bool

    @property
    def resource_total(self) -> int:
        return sum(self.resource_counts.values())


def _sources_digest(root: Path = ROOT) -> str:
    digest = hashlib.sha256()
    for folder in SOURCE_DIRS:
        for path in sorted((root / folder).rglob("*.py")):
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    for package in PACKAGES:
        try:
            version = metadata.version(package)
        except metadata.PackageNotFoundError:
            version = "missing"
        digest.update(f"{package}=={version}\0".encode())
    return digest.hexdigest()


def input_hash(env: Environment, *, backend: bool, sources: str | None = None) -> str:
    """The hash of everything `env`'s stack JSON depends on."""
    digest = hashlib.sha256((sources or _sources_digest()).encode())
    digest.update(env.model_dump_json().encode())
    digest.update(f"backend={backend}".encode())
    return digest.hexdigest()


def resource_counts(json_path: Path) -> dict[str, int]:
    """Resources in a synthesized stack, by Terraform type."""
    stack = json.loads(json_path.read_text())
    counts = Counter({kind: len(items) for kind, items in stack.get("resource", {}).items()})
    return dict(sorted(counts.items()))


def _is_current(stack_dir: Path, expected: str) -> bool:
    hash_path = stack_dir / HASH_FILE
    return (stack_dir / STACK_FILE).is_file() and hash_path.is_file() and hash_path.read_text().strip() == expected


def _move_into_place(staged: Path, final: Path, hash_value: str) -> None:
    """Move the files synthesis wrote into the stack folder, one atomic rename each.

    Only generated files are replaced: the folder is also terraform's working directory, and what
    terraform keeps there (.terraform/, the lock file, local state, saved plans) must survive a synth.
    The hash goes last, so an interrupted move leaves a stale hash and the next run synthesizes again.
    """
    final.mkdir(parents=True, exist_ok=True)
    (final / HASH_FILE).unlink(missing_ok=True)
    for path in sorted(p for p in staged.rglob("*") if p.is_file()):
        target = final / path.relative_to(staged)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
    tmp = final / f"{HASH_FILE}.{os.getpid()}"
    tmp.write_text(hash_value + "\n")
    tmp.replace(final / HASH_FILE)


def _merge_manifest(outdir: Path, fresh_manifest: Path) -> None:
    """Keep cdktf.out/manifest.json listing every stack, including ones this run left cached."""
    manifest_path = outdir / "manifest.json"
    fresh = json.loads(fresh_manifest.read_text())
    if manifest_path.is_file():
        merged = json.loads(manifest_path.read_text())
        merged.setdefault("stacks", {}).update(fresh.get("stacks", {}))
        merged["version"] = fresh.get("version", merged.get("version"))
    else:
        merged = fresh
    tmp = manifest_path.with_name(f".manifest.json.{os.getpid()}")
    tmp.write_text(json.dumps(merged, indent=2, sort_keys=True) + "\n")
    tmp.replace(manifest_path)


def _synthesize(envs: list[Environment], outdir: Path, hashes: dict[str, str], *, backend: bool) -> None:
    # jsii prints a large end-of-life banner for Node 20 otherwise; the README says Node 22/24 is preferred.
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    from stacks.app import synth  # heavy: loads the provider bindings

    outdir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.tmp-", dir=outdir.parent))
    try:
        synth(envs, staging, backend=backend)
        # Every stack synthesized: only now does anything in `outdir` change.
        outdir.mkdir(parents=True, exist_ok=True)
        for env in envs:
            stack = naming.stack_name(env)
            _move_into_place(staging / "stacks" / stack, outdir / "stacks" / stack, hashes[stack])
        _merge_manifest(outdir, staging / "manifest.json")
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def synth_environments(
    envs: list[Environment], outdir: Path = ROOT / "cdktf.out", *, backend: bool = True
) -> list[SynthResult]:
    """Synthesize each environment's stack unless its inputs are unchanged; one result per environment."""
    outdir = Path(outdir)
    sources = _sources_digest()
    hashes = {naming.stack_name(env): input_hash(env, backend=backend, sources=sources) for env in envs}
    stale = [env for env in envs if not _is_current(outdir / "stacks" / naming.stack_name(env), hashes[naming.stack_name(env)])]
    stale_names = {env.name for env in stale}
    if stale:
        _synthesize(stale, outdir, hashes, backend=backend)
    results = []
    for env in envs:
        stack_dir = outdir / "stacks" / naming.stack_name(env)
        json_path = stack_dir / STACK_FILE
        results.append(
            SynthResult(
                env=env.name,
                stack_dir=stack_dir,
                json_path=json_path,
                resource_counts=resource_counts(json_path),
                cached=env.name not in stale_names,
            )
        )
    return results



def synth_and_report(envs: list[Environment], *, outdir: Path = ROOT / "cdktf.out") -> int:
    """Synthesize `envs` and print, per stack, its resources by type and where the JSON went."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for result in synth_environments(envs, outdir):
        state = "unchanged, not re-synthesized" if result.cached else "synthesized"
        table = Table(title=f"{result.env}: {result.resource_total} resources ({state})", title_justify="left")
        table.add_column("resource type")
        table.add_column("count", justify="right")
        for kind, count in result.resource_counts.items():
            table.add_row(kind, str(count))
        console.print(table)
        console.print(f"  → {shown_path(result.json_path)}\n")
    return 0
