"""The policy gate: checkov over every environment's synthesized Terraform JSON; 0 failed checks to pass.

checkov's dependency pins clash with Airflow's, so it runs from its own virtual environment under
.cache/checkov-venv, created here on first use from requirements/checkov.txt: checkov and every
dependency pinned with hashes (`--require-hashes`), so the gate itself cannot change under us. Skips
live in .checkov.yaml, one check at a time, each with its reason. checkov passes silently when it
cannot parse a file (0 checks, exit 0) and logs, but does not count, a check that crashes; the gate
treats both as failures.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from infra.config import ROOT, Environment
from infra.errors import UserError

CHECKOV_VERSION = "3.3.30"
CHECKOV_REQUIREMENTS = ROOT / "requirements" / "checkov.txt"
CHECKOV_VENV = ROOT / ".cache" / "checkov-venv"
CHECKOV_CONFIG = ROOT / ".checkov.yaml"
_CRASH_RE = re.compile(r"Failed to run check (\S+) on (\S+):(\S+)")


@dataclass(frozen=True)
class Finding:
    check_id: str
    name: str
    resource: str  # a stack's construct path (prod/database/instance) or a manifest's Kind/name


@dataclass(kw_only=True)
class Verdict:
    """checkov's counts and findings for one thing it checked (a stack, a folder of manifests)."""

    passed: int = 0
    failed: int = 0
    skipped: int = 0
    resources: set[str] = field(default_factory=set)
    failures: list[Finding] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # parse errors, crashed checks, nothing checked

    @property
    def ok(self) -> bool:
        return self.failed == 0 and not self.problems

    def counts(self) -> str:
        return f"{self.passed} passed, {self.failed} failed, {self.skipped} skipped"


@dataclass(kw_only=True)
class StackPolicy(Verdict):
    """checkov's verdict on one synthesized stack."""

    json_path: Path


@dataclass(frozen=True)
class PolicyResult:
    stacks: list[StackPolicy]

    @property
    def ok(self) -> bool:
        return bool(self.stacks) and all(stack.ok for stack in self.stacks)

    @property
    def failed(self) -> int:
        return sum(stack.failed for stack in self.stacks)


def _installed_marker(venv: Path, requirements: Path) -> Path:
    # Named after the requirements' digest: editing the pins installs again.
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()[:16]
    return venv / f".installed-checkov-{CHECKOV_VERSION}-{digest}"


def ensure_checkov(venv: Path = CHECKOV_VENV, requirements: Path = CHECKOV_REQUIREMENTS) -> Path:
    """The checkov executable, installing the hash-pinned requirements into their own virtual environment once."""
    checkov = venv / "bin" / "checkov"
    if not requirements.is_file():
        raise UserError(f"{requirements} is missing: it pins checkov and its dependencies for the policy gate")
    marker = _installed_marker(venv, requirements)
    if checkov.is_file() and marker.is_file():
        return checkov
    print(f"Installing checkov {CHECKOV_VERSION} into {venv} (once; about a minute)...", file=sys.stderr)
    shutil.rmtree(venv, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    steps = [
        [sys.executable, "-m", "venv", str(venv)],
        [str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check", "--require-hashes", "-r", str(requirements)],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True)
        if done.returncode != 0:
            shutil.rmtree(venv, ignore_errors=True)
            lines = (done.stderr or done.stdout).strip().splitlines() or ["no output"]
            reason = next((line for line in lines if line.startswith("ERROR:")), lines[-1]).removeprefix("ERROR: ")
            raise UserError(f"could not install checkov {CHECKOV_VERSION} into {venv} from {requirements.name}: {reason}")
    version = subprocess.run([str(checkov), "--version"], capture_output=True, text=True)
    if version.returncode != 0 or CHECKOV_VERSION not in version.stdout:
        raise UserError(f"checkov {CHECKOV_VERSION} installed into {venv} but does not run: {version.stderr.strip()[:200]}")
    marker.write_text(CHECKOV_VERSION + "\n")
    return checkov


def _construct_paths(json_path: Path) -> dict[str, str]:
    """Logical id -> construct path (`prod/database/instance`), so findings never show generated ids."""
    stack = json.loads(json_path.read_text())
    paths = {}
    for kind, items in stack.get("resource", {}).items():
        for logical_id, body in items.items():
            path = body.get("//", {}).get("metadata", {}).get("path", logical_id)
            paths[logical_id] = path
            paths[f"{kind}.{logical_id}"] = path
            paths[f"resource.{logical_id}"] = path
    return paths


def checkov_reports(framework: str, config: Path, targets: list[str], *, what: str) -> tuple[list[dict], str]:
    """checkov's JSON reports (one per framework run) and its stderr, where crashed checks are logged."""
    checkov = ensure_checkov()
    command = [str(checkov), "--framework", framework, "--config-file", str(config), "-o", "json", "--skip-download", *targets]
    # BC_SKIP_MAPPING: no call home for guideline links (there is no internet, and none is needed).
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "LOG_LEVEL": "WARNING"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
    try:
        data = json.loads(done.stdout)
    except json.JSONDecodeError:
        shown = done.stdout.strip()[:200] or done.stderr.strip()[:200] or "empty output"
        raise UserError(f"checkov printed no JSON report for {what}: {shown}") from None
    return (data if isinstance(data, list) else [data]), done.stderr


def run_checkov(json_paths: list[Path], *, config: Path = CHECKOV_CONFIG) -> PolicyResult:
    """Run checkov over the given cdk.tf.json files; per-stack passed/failed/skipped and problems."""
    paths = [Path(p).resolve() for p in json_paths]
    stacks = {path: StackPolicy(json_path=path) for path in paths}
    targets = [arg for path in paths for arg in ("-f", str(path))]
    reports, stderr = checkov_reports("terraform_json", config, targets, what=", ".join(map(str, paths)))
    names = {path: _construct_paths(path) for path in paths}
    for report in reports:
        results = report.get("results", {})
        for kind, counter in (("passed_checks", "passed"), ("failed_checks", "failed"), ("skipped_checks", "skipped")):
            for check in results.get(kind, []):
                path = Path(check.get("file_abs_path", "")).resolve()
                stack = stacks.get(path)
                if stack is None:
                    continue
                setattr(stack, counter, getattr(stack, counter) + 1)
                stack.resources.add(check["resource"])
                if kind == "failed_checks":
                    resource = names[path].get(check["resource"], check["resource"])
                    stack.failures.append(Finding(check["check_id"], check["check_name"], resource))
        for error in results.get("parsing_errors", []):
            for path, stack in stacks.items():
                if Path(error).resolve() == path or str(error).endswith(str(path)):
                    stack.problems.append("checkov could not parse the file")

    crashes: dict[Path, list[str]] = defaultdict(list)
    for check_id, file_name, resource in _CRASH_RE.findall(stderr):
        for path in paths:
            # checkov names files under its working directory as "/<relative path>", others absolutely.
            if str(path).endswith(file_name):
                crashes[path].append(f"{check_id} on {names[path].get(resource, resource)}")
    for path, stack in stacks.items():
        for crash in crashes[path]:
            stack.problems.append(f"check crashed (not evaluated): {crash}")
        # The silent pass: a file checkov did not understand reports 0 checks and exit code 0.
        if not stack.resources:
            stack.problems.append("checkov evaluated no resource in this file (not parsed?)")
        elif stack.passed == 0:
            stack.problems.append("no check passed: checkov did not really evaluate this stack")
    return PolicyResult(stacks=[stacks[path] for path in paths])


def skip_reasons(config: Path = CHECKOV_CONFIG) -> dict[str, str]:
    """Check id -> the reason written above it in the checkov config file."""
    reasons: dict[str, str] = {}
    comment: list[str] = []
    after_entry = False  # consecutive entries share the comment block above them
    for line in config.read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            if after_entry:
                comment, after_entry = [], False
            comment.append(stripped.lstrip("# ").strip())
        elif match := re.match(r"-\s*(CKV2?_[A-Z0-9]+_\d+)\s*$", stripped):
            reasons[match.group(1)] = " ".join(comment)
            after_entry = True
        else:
            comment, after_entry = [], False
    return reasons


def policy_gate(envs: list[Environment]) -> int:
    """Synthesize `envs`, run checkov over them, print the verdict; 0 only when no check failed."""
    from rich.console import Console
    from rich.table import Table

    from infra.synth import synth_environments

    console = Console()
    synthesized = synth_environments(envs)
    result = run_checkov([item.json_path for item in synthesized])
    table = Table(title="checkov policy gate", title_justify="left")
    for column in ("stack", "resources", "passed", "failed", "skipped", "verdict"):
        table.add_column(column, justify="left" if column in ("stack", "verdict") else "right")
    for item, stack in zip(synthesized, result.stacks):
        verdict = "[green]ok[/]" if stack.ok else "[red]FAILED[/]"
        table.add_row(item.env, str(len(stack.resources)), str(stack.passed), str(stack.failed), str(stack.skipped), verdict)
    console.print(table)
    for item, stack in zip(synthesized, result.stacks):
        for finding in stack.failures:
            console.print(f"[red]✗[/] {item.env}: {finding.check_id} {finding.resource}: {finding.name}")
        for problem in stack.problems:
            console.print(f"[red]✗[/] {item.env}: {problem}")
    skips = skip_reasons()
    console.print(f"Not run ({len(skips)}, each with its reason in {CHECKOV_CONFIG.name}): {', '.join(skips)}")
    return 0 if result.ok else 1
