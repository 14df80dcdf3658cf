"""`invoke plan ENV`: what a deploy would change, as a report a reviewer reads in ten seconds.

Online: synth → `terraform init` → `plan -lock=false -out` → `show -json` → report; the saved plan file is kept in
cdktf.out/plans/ with a fingerprint of the synthesized configuration beside it, so `deploy --plan-file`
can apply exactly that plan and refuse it once it is stale. Offline (`--offline`): no terraform and no
credentials, the synthesized working tree against a base commit (infra.offline_diff).
Exit code: 0 = no changes, 2 = changes, 1 = error (terraform's -detailed-exitcode).
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from infra import gitrepo
from infra.config import ROOT, Environment
from infra.errors import UserError
from infra.plan_report import PlanReport, from_terraform_plan, render
from infra.runner import TerraformRunner, display_path
from infra.steps import make_console

OUTDIR = ROOT / "cdktf.out"


@dataclass(frozen=True)
class Stack:
    """Where an environment's synthesized stack and its saved plan live."""

    env: str
    stack_dir: Path
    json_path: Path

    @property
    def plan_file(self) -> Path:
        return self.stack_dir.parent.parent / "plans" / f"{self.env}.tfplan"


def synthesize(env: Environment, outdir: Path = OUTDIR) -> Stack:
    from infra.synth import synth_environments  # CDK Terrain loads only here

    (result,) = synth_environments([env], outdir, backend=True)
    return Stack(env.name, Path(result.stack_dir), Path(result.json_path))


def fingerprint(json_path: Path) -> str:
    """sha256 of the synthesized configuration, without CDK Terrain's construct-path metadata."""

    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k != "//"}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    canonical = json.dumps(strip(json.loads(json_path.read_text())), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def meta_path(plan_file: Path) -> Path:
    return plan_file.with_name(plan_file.name + ".meta.json")


def write_plan_meta(stack: Stack, plan_file: Path, root: Path = ROOT) -> None:
    commit = gitrepo.head_commit(root) if gitrepo.is_repository(root) else None
    meta = {
        "environment": stack.env,
        "configuration_sha256": fingerprint(stack.json_path),
        "git_commit": commit,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    meta_path(plan_file).write_text(json.dumps(meta, indent=2) + "\n")


def check_plan_fresh(stack: Stack, plan_file: Path) -> None:
    """Refuse a plan made for another environment or from another configuration than today's."""
    if not plan_file.is_file():
        raise UserError(f"plan file {plan_file} does not exist: make one with `invoke plan {stack.env}`")
    meta_file = meta_path(plan_file)
    if not meta_file.is_file():
        raise UserError(
            f"plan file {plan_file} has no {meta_file.name} beside it, so it cannot be checked for staleness: "
            f"make it with `invoke plan {stack.env}`"
        )
    try:
        meta = json.loads(meta_file.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        where = f" ({exc.msg} at line {exc.lineno})" if isinstance(exc, json.JSONDecodeError) else ""
        raise UserError(f"{meta_file} is not valid JSON{where}: make the plan again with `invoke plan {stack.env}`") from None
    if not isinstance(meta, dict):
        raise UserError(f"{meta_file} is not a plan's metadata (a JSON object): make the plan again with `invoke plan {stack.env}`")
    if meta.get("environment") != stack.env:
        raise UserError(f"plan file {plan_file} was made for {meta.get('environment')!r}, not {stack.env!r}")
    if meta.get("configuration_sha256") != fingerprint(stack.json_path):
        raise UserError(
            f"plan file {plan_file} is stale: the configuration changed since it was made "
            f"(at {meta.get('created_at')}, commit {str(meta.get('git_commit'))[:12]}); "
            f"run `invoke plan {stack.env}` again and review the new plan"
        )


def emit(report: PlanReport, fmt: str, out: str | None, console: Console, cluster: PlanReport | None = None) -> None:
    text = render(report, fmt)
    if cluster is not None:  # the offline plan's cluster-side section, after the stack's
        if fmt == "json":
            text = json.dumps({**report.to_dict(), "cluster_side": cluster.to_dict()}, indent=2, sort_keys=True) + "\n"
        else:
            text += "\n" + render(cluster, fmt)
    sys.stdout.write(text)
    sys.stdout.flush()
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text)
        console.print(f"report written to {out}", highlight=False)


def plan(
    env: Environment,
    *,
    fmt: str = "text",
    out: str | None = None,
    offline: bool = False,
    base: str | None = None,
    root: Path = ROOT,
) -> int:
    console = make_console()
    if offline:
        from infra.manifest_diff import cluster_report
        from infra.offline_diff import offline_report

        report = offline_report(env, base, root=root)
        cluster = cluster_report(env, base, root=root)
        emit(report, fmt, out, console, cluster)
        return 2 if report.has_changes or cluster.has_changes else 0
    report, plan_file, code = online_plan(env, console, root=root)
    emit(report, fmt, out, console)
    console.print(
        f"saved plan: {display_path(plan_file)}  (apply exactly this plan: "
        f"invoke deploy {env.name} --plan-file {display_path(plan_file)})",
        highlight=False,
    )
    return code


def online_plan(env: Environment, console: Console, *, root: Path = ROOT) -> tuple[PlanReport, Path, int]:
    """synth → init → plan -out → show -json; the report, the saved plan file and terraform's exit code."""
    console.print(f"synthesizing {env.name}…", highlight=False)
    stack = synthesize(env, root / "cdktf.out")
    tf = TerraformRunner(console)
    tf.init(stack.stack_dir)
    plan_file = stack.plan_file
    plan_file.parent.mkdir(parents=True, exist_ok=True)
    # A plan to read never locks: it writes no state, and PR plans run with read-only credentials that
    # cannot write the backend's lock object. Deploys lock (infra.deploy); a plan that went stale
    # meanwhile is refused by terraform at apply time.
    code = tf.plan(stack.stack_dir, plan_file, lock=False)
    write_plan_meta(stack, plan_file, root)
    plan_json = tf.show_json(stack.stack_dir, plan_file) or {}
    return from_terraform_plan(plan_json, env.name, f"terraform plan of cdktf.out/stacks/{env.name}"), plan_file, code
