"""The policy gate on the cluster side: checkov's Kubernetes framework over the rendered manifests.

Same rules as the Terraform gate (infra/policy.py, whose checkov it reuses): 0 failed checks to pass,
a folder in which checkov evaluated nothing is a failure, and every skipped check is written down in
.checkov-k8s.yaml with its reason as an accepted risk. What the chart's values can fix is fixed in
infra/chart_values.py (security contexts, resources, probes, read-only root filesystems).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from infra.config import ROOT, Environment
from infra.errors import UserError
from infra.policy import Finding, Verdict, checkov_reports

K8S_CONFIG = ROOT / ".checkov-k8s.yaml"


@dataclass(kw_only=True)
class ManifestPolicy(Verdict):
    """checkov's verdict on one environment's rendered manifests."""

    folder: Path


def _resource(check: dict) -> str:
    # checkov names a Kubernetes object `Kind.namespace.name`.
    parts = check["resource"].split(".")
    return f"{parts[0]}/{parts[-1]}" if len(parts) >= 3 else check["resource"]


def run_checkov_k8s(folder: Path, *, config: Path = K8S_CONFIG) -> ManifestPolicy:
    """checkov's kubernetes framework over one folder of rendered manifests."""
    verdict = ManifestPolicy(folder=folder)
    reports, stderr = checkov_reports("kubernetes", config, ["-d", str(folder.resolve())], what=str(folder))
    for report in reports:
        results = report.get("results", {})
        for kind, counter in (("passed_checks", "passed"), ("failed_checks", "failed"), ("skipped_checks", "skipped")):
            for check in results.get(kind, []):
                setattr(verdict, counter, getattr(verdict, counter) + 1)
                verdict.resources.add(_resource(check))
                if kind == "failed_checks":
                    verdict.failures.append(Finding(check["check_id"], check["check_name"], _resource(check)))
        for error in results.get("parsing_errors", []):
            verdict.problems.append(f"checkov could not parse {error}")
    if "Failed to run check" in stderr:
        verdict.problems.append("a check crashed (not evaluated): " + stderr.split("Failed to run check", 1)[1].splitlines()[0].strip())
    if not verdict.resources:
        verdict.problems.append("checkov evaluated no object in these manifests (not parsed?)")
    return verdict


def require_clean(env: Environment, folder: Path) -> str:
    """The deploy's gate: a one-line verdict, or a UserError naming the first finding."""
    verdict = run_checkov_k8s(folder)
    if not verdict.ok:
        first = verdict.failures[0] if verdict.failures else None
        what = f"{first.check_id} on {first.resource}: {first.name}" if first else verdict.problems[0]
        raise UserError(
            f"manifest policy gate failed for {env.name} ({verdict.counts()}): {what}; fix it in the chart values "
            f"or skip the check with its reason in {K8S_CONFIG.name}"
        )
    return f"checkov {verdict.counts()}"


def manifest_gate(envs: list[Environment]) -> int:
    """`invoke policy`'s cluster half: render each environment, check it, print the verdict."""
    from rich.console import Console
    from rich.table import Table

    from infra.k8s_render import render
    from infra.policy import skip_reasons

    console = Console()
    verdicts = [(env.name, run_checkov_k8s(render(env).folder)) for env in envs]
    table = Table(title="checkov policy gate: rendered manifests", title_justify="left")
    for column in ("manifests", "objects", "passed", "failed", "skipped", "verdict"):
        table.add_column(column, justify="left" if column in ("manifests", "verdict") else "right")
    for name, verdict in verdicts:
        mark = "[green]ok[/]" if verdict.ok else "[red]FAILED[/]"
        table.add_row(name, str(len(verdict.resources)), str(verdict.passed), str(verdict.failed), str(verdict.skipped), mark)
    console.print(table)
    for name, verdict in verdicts:
        for finding in verdict.failures:
            console.print(f"[red]✗[/] {name}: {finding.check_id} {finding.resource}: {finding.name}")
        for problem in verdict.problems:
            console.print(f"[red]✗[/] {name}: {problem}")
    skips = skip_reasons(K8S_CONFIG)
    console.print(f"Not run on manifests ({len(skips)}, each with its reason in {K8S_CONFIG.name}): {', '.join(skips)}")
    return 0 if all(verdict.ok for _, verdict in verdicts) else 1
