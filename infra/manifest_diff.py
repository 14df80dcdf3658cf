"""The cluster side of an offline plan: the rendered manifests of a base commit against the working tree.

Like the stack diff (infra/offline_diff.py), each side is rendered by its own code: the base in a
temporary `git worktree`, in a subprocess whose import path is that tree, with the real helm and the
chart that tree pins. Objects are matched by `Kind/name` and compared field by field into the same
report model as a plan (infra/plan_report.py), so text, markdown and json read like the stack's plan.
Files embedded in the config ConfigMap are compared option by option, not as one long string.
"""

from __future__ import annotations

import configparser
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

from infra import helm
from infra.config import ROOT, Environment
from infra.errors import UserError
from infra.offline_diff import Worktree, _env_file_in, base_commit
from infra.plan_report import AttributeChange, PlanReport, ResourceChange, diff_values

# Rendering inside one tree, with that tree's code; a tree from before the cluster side had no renderer.
RENDER_SCRIPT = r"""
import json, sys
from pathlib import Path
from infra.config import load_environment
env_file = Path(sys.argv[1])
if not env_file.is_file():
    print(json.dumps({"missing_env": str(env_file)})); sys.exit(0)
try:
    from infra.k8s_render import manifests
except ImportError:
    print(json.dumps({"no_renderer": True})); sys.exit(0)
print(json.dumps({"objects": manifests(load_environment(env_file))}))
"""


def render_tree(tree: Path, env: Environment) -> list[dict] | None:
    """The objects `tree`'s code renders for `env`'s file in that tree; None when it renders nothing."""
    pythonpath = os.pathsep.join([str(tree), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    child_env = {**os.environ, "PYTHONPATH": pythonpath, "HELM_BIN": helm.helm_bin()}
    # The base tree is a temporary checkout: let it find the chart packages this tree finds.
    child_env.setdefault("AIRFLOW_CHART_DIR", str(helm.chart_package(env.kubernetes.chart).parent))
    child_env.pop("PLATFORM_ENVIRONMENTS_DIR", None)
    proc = subprocess.run(
        [sys.executable, "-c", RENDER_SCRIPT, str(_env_file_in(tree, env))],
        cwd=tree, env=child_env, capture_output=True, text=True, stdin=subprocess.DEVNULL,
    )
    if proc.returncode != 0:
        detail = proc.stderr.strip().splitlines()[-1:] or ["no output"]
        raise UserError(f"rendering the cluster side of {env.name} failed in {tree}: {detail[0]}")
    answer = json.loads(proc.stdout.strip().splitlines()[-1])
    return answer.get("objects")


def _comparable(obj: dict) -> dict:
    """`obj` with files inside ConfigMaps opened up: airflow.cfg by section and option, YAML as YAML."""
    if obj.get("kind") != "ConfigMap":
        return obj
    data = {}
    for name, text in (obj.get("data") or {}).items():
        if name.endswith(".cfg"):
            parser = configparser.ConfigParser(interpolation=None)
            parser.optionxform = str
            parser.read_string(text)
            data[name] = {section: dict(parser[section]) for section in parser.sections()}
        elif name.endswith((".yaml", ".yml")):
            data[name] = yaml.safe_load(text)
        else:
            data[name] = text
    return {**obj, "data": data}


def key(obj: dict) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


def diff_manifests(old: list[dict] | None, new: list[dict] | None, env: str, source: str) -> PlanReport:
    """Object by object (Kind/name), then the changed fields, old → new."""
    before = {key(o): _comparable(o) for o in old or []}
    after = {key(o): _comparable(o) for o in new or []}
    changes = []
    for address in sorted(set(before) | set(after)):
        kind = address.split("/", 1)[0]
        if address not in before:
            changes.append(ResourceChange(address, kind, "create"))
        elif address not in after:
            changes.append(ResourceChange(address, kind, "destroy"))
        else:
            fields = [AttributeChange(path, o, n) for path, o, n in diff_values(before[address], after[address])]
            if fields:
                changes.append(ResourceChange(address, kind, "update", fields))
    return PlanReport(env, source, changes)


def cluster_report(env: Environment, base: str | None, *, root: Path = ROOT) -> PlanReport:
    """The manifests of `base` (default: merge base with main) against the working tree's."""
    commit, label = base_commit(root, base)
    with Worktree(root, commit) as tree, ThreadPoolExecutor(max_workers=2) as pool:
        old_future, new_future = pool.submit(render_tree, tree, env), pool.submit(render_tree, root, env)
        old, new = old_future.result(), new_future.result()
    source = f"rendered manifests (helm), working tree against {label} ({commit[:12]})"
    report = diff_manifests(old, new, f"{env.name} cluster side", source)
    if old is None:
        report.notes.append(f"nothing was rendered at {label} (no cluster-side renderer or no environment file): every object is new")
    return report
