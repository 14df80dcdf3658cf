"""The plan a PR gets without cloud credentials: diff the synthesized stack of two commits.

The working tree (uncommitted changes included) and a base ref (default: the merge base with main) are
each synthesized by *their own* code: the base is checked out in a temporary `git worktree` and
synthesized there in a subprocess whose import path is that worktree, never today's constructs on
yesterday's YAML. The two `cdk.tf.json` files are then compared resource by resource, attribute by
attribute, into the same report model as an online plan.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from infra import gitrepo
from infra.config import ENVIRONMENTS_DIR, ROOT, Environment
from infra.errors import UserError
from infra.plan_report import AttributeChange, PlanReport, ResourceChange, _ordered, diff_values

# Synthesis inside one tree, with that tree's code. It must run against old commits too, so it uses only
# what every version of the project has had: the environment loader and stacks' synthesis entry point.
SYNTH_SCRIPT = r"""
import json, sys
from pathlib import Path
from infra.config import load_environment
env_file, outdir = Path(sys.argv[1]), Path(sys.argv[2])
if not env_file.is_file():
    print(json.dumps({"missing_env": str(env_file)})); sys.exit(0)
env = load_environment(env_file)
try:
    from infra.synth import synth_environments
except ImportError:
    from stacks.app import synth
    synth([env], outdir, backend=False)
    path = outdir / "stacks" / env.name / "cdk.tf.json"
else:
    (result,) = synth_environments([env], outdir, backend=False)
    path = result.json_path
print(json.dumps({"json_path": str(path)}))
"""

# Attributes known to force a new resource (so an offline diff can say "replace" where terraform
# would). Terraform's own plan stays the authority; this list is deliberately short and conservative.
FORCES_NEW = {
    "*": ("name", "project", "location", "region"),
    "google_container_cluster": ("network", "subnetwork", "ip_allocation_policy", "private_cluster_config.master_ipv4_cidr_block", "private_cluster_config.enable_private_nodes"),
    "google_container_node_pool": ("cluster", "node_config.disk_type", "node_config.disk_size_gb", "node_config.spot", "node_config.taint"),
    "google_compute_subnetwork": ("network",),
    "google_storage_bucket": ("location",),
    "google_secret_manager_secret": ("secret_id", "replication"),
    "google_logging_project_bucket_config": ("bucket_id",),
    "google_service_account": ("account_id",),
}


def _forces_new(resource_type: str, path: str) -> bool:
    for prefix in FORCES_NEW["*"] + FORCES_NEW.get(resource_type, ()):
        if path == prefix or path.startswith(prefix + ".") or path.startswith(prefix + "["):
            return True
    return False


def _env_file_in(tree: Path, env: Environment) -> Path:
    """The environment file as the tree at `tree` has it (files kept outside the repo are shared)."""
    env_dir = Path(ENVIRONMENTS_DIR).resolve()
    try:
        return tree / env_dir.relative_to(ROOT) / f"{env.name}.yaml"
    except ValueError:
        return env_dir / f"{env.name}.yaml"


def synthesize_tree(tree: Path, env: Environment, outdir: Path) -> dict | None:
    """Synthesize `env` with the code and environment file of `tree`; None when the file is absent there."""
    pythonpath = os.pathsep.join([str(tree), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    child_env = {**os.environ, "PYTHONPATH": pythonpath, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    child_env.pop("PLATFORM_ENVIRONMENTS_DIR", None)
    proc = subprocess.run(
        [sys.executable, "-c", SYNTH_SCRIPT, str(_env_file_in(tree, env)), str(outdir)],
        cwd=tree,
        env=child_env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    if proc.returncode != 0:
        detail = proc.stderr.strip().splitlines()[-1:] or ["no output"]
        raise UserError(f"synthesis of {env.name} failed in {tree}: {detail[0]}")
    answer = json.loads(proc.stdout.strip().splitlines()[-1])
    if "missing_env" in answer:
        return None
    return json.loads(Path(answer["json_path"]).read_text())


def _without_metadata(value):
    # CDK Terrain's "//" entries record construct paths; they change with refactors, not with resources.
    if isinstance(value, dict):
        return {k: _without_metadata(v) for k, v in value.items() if k != "//"}
    if isinstance(value, list):
        return [_without_metadata(v) for v in value]
    return value


def resources(stack: dict | None) -> dict[str, tuple[str, dict]]:
    """address → (type, attributes) for every managed resource of a synthesized stack."""
    out = {}
    for resource_type, by_name in ((stack or {}).get("resource") or {}).items():
        for name, attributes in by_name.items():
            out[f"{resource_type}.{name}"] = (resource_type, _without_metadata(attributes))
    return out


def diff_stacks(old: dict | None, new: dict | None, env: str, source: str) -> PlanReport:
    before, after = resources(old), resources(new)
    changes = []
    for address in sorted(set(before) | set(after)):
        if address not in before:
            changes.append(ResourceChange(address, after[address][0], "create"))
        elif address not in after:
            changes.append(ResourceChange(address, before[address][0], "destroy"))
        else:
            resource_type = after[address][0]
            attributes = [
                AttributeChange(path, old_value, new_value, _forces_new(resource_type, path))
                for path, old_value, new_value in diff_values(before[address][1], after[address][1])
            ]
            if attributes:
                action = "replace" if any(a.forces_replacement for a in attributes) else "update"
                changes.append(ResourceChange(address, resource_type, action, attributes))
    return PlanReport(env, source, _ordered(changes))


class Worktree:
    """A temporary `git worktree` of `commit`, removed again on exit (also after an error)."""

    def __init__(self, root: Path, commit: str):
        self.root, self.commit = root, commit
        self._tmp = tempfile.TemporaryDirectory(prefix="plan-base-")
        self.path = Path(self._tmp.name) / "tree"

    def __enter__(self) -> Path:
        gitrepo.git(self.root, "worktree", "add", "--detach", "--force", str(self.path), self.commit)
        return self.path

    def __exit__(self, *exc) -> None:
        gitrepo.git(self.root, "worktree", "remove", "--force", str(self.path), check=False)
        gitrepo.git(self.root, "worktree", "prune", check=False)
        self._tmp.cleanup()


def base_commit(root: Path, base: str | None) -> tuple[str, str]:
    """(commit, label) an offline plan compares with: `base`, or the merge base with main."""
    if not gitrepo.is_repository(root):
        raise UserError(f"{root} is not a git repository: an offline plan compares two commits")
    if base is None:
        return gitrepo.merge_base_with_main(root), "the merge base with main"
    commit = gitrepo.resolve(root, base)
    if commit is None:
        raise UserError(f"git ref {base!r} does not exist in this clone (a shallow clone? fetch with fetch-depth: 0)")
    return commit, base


def offline_report(env: Environment, base: str | None, *, root: Path = ROOT) -> PlanReport:
    """Synthesize the working tree and `base` (default: merge base with main) and diff them."""
    commit, label = base_commit(root, base)
    with tempfile.TemporaryDirectory(prefix="plan-synth-") as tmp, Worktree(root, commit) as tree:
        with ThreadPoolExecutor(max_workers=2) as pool:
            # Two processes at once: each spends most of its ~4 s loading the provider bindings.
            old_future = pool.submit(synthesize_tree, tree, env, Path(tmp) / "base")
            new_future = pool.submit(synthesize_tree, root, env, Path(tmp) / "work")
            old, new = old_future.result(), new_future.result()
    source = f"offline diff of the synthesized stack: working tree against {label} ({commit[:12]})"
    report = diff_stacks(old, new, env.name, source)
    if old is None:
        report.notes.append(f"environments/{env.name}.yaml does not exist at {label}: every resource is new")
    report.notes.append("offline: computed without terraform or credentials; the online plan is the authority on replacements")
    return report
