"""The CLI as a user runs it: `invoke` in a subprocess, no terminal, real synthesis."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.cli.helpers import ROOT, copy_project, git, load_env

HEAVY = ("cdktn", "cdktn_provider_google", "pulumi", "pulumi_kubernetes", "google", "jsii")
COMMANDS = ("synth", "policy", "plan", "deploy", "destroy", "status")


def invoke(*args, cwd=ROOT, env=None):
    return subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(cwd), **(env or {})},
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )


def test_invoke_list_shows_the_commands_without_importing_heavy_packages():
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "invoke", "--list"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    for command in COMMANDS:
        assert re.search(rf"^\s+{command}\s+\S", done.stdout, re.M), f"{command} is listed with its docstring"
    imported = {line.split("|")[-1].strip().split(".")[0] for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert not imported & set(HEAVY), f"--list imported {imported & set(HEAVY)}"


def test_protected_deploy_without_terminal_fails_at_once_with_one_line():
    done = invoke("deploy", "prod")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "error: deploy prod needs a confirmation and there is no terminal to ask on (CI?): review the plan, then pass --yes"
    ]


def test_destroy_of_prod_without_force_is_refused_also_in_a_dry_run():
    done = invoke("destroy", "prod", "--dry-run")
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("error: prod is protected: destroying it needs --force")
    assert "set gke.deletion_protection: false and database.deletion_protection: false" in line
    assert "Traceback" not in done.stderr


@pytest.mark.integration
def test_deploy_prod_dry_run_prints_the_whole_sequence(tmp_path):
    repo = copy_project(tmp_path / "repo")
    # checkov lives in the project's .cache; share it instead of installing it again for the copy.
    (ROOT / ".cache").mkdir(exist_ok=True)
    (repo / ".cache").symlink_to(ROOT / ".cache")
    with open(repo / ".git" / "info" / "exclude", "a") as exclude:
        exclude.write(".cache\n")
    assert git(repo, "status", "--porcelain") == ""

    from infra import helm
    from tests.k8s.kit import require_helm_and_chart

    require_helm_and_chart()
    # The copy lives outside the project's folder: point it at the chart packages this checkout finds.
    charts = str(helm.chart_package(load_env("prod").kubernetes.chart).parent)
    done = invoke("deploy", "prod", "--dry-run", "--yes", cwd=repo, env={"PATH": os.environ["PATH"], "AIRFLOW_CHART_DIR": charts})
    assert done.returncode == 0, done.stderr
    text = done.stderr
    from infra.deploy import DEPLOY_STEPS

    for number, name in enumerate(DEPLOY_STEPS, 1):
        assert f"▸ {number}/{len(DEPLOY_STEPS)} {name}" in text
    for command in ("terraform init", "terraform plan", "terraform show -json", "terraform apply", "terraform output -json"):
        assert re.search(rf"\$ {command}.*\(in cdktf.out/stacks/prod\)", text), command
    assert "would check that gs://acme-airflow-prod-tfstate exists" in text
    assert "is on main" in text
    assert "– skipped" not in text and "│ skipped" not in text, "no step of a dry run is skipped"
    for command in ("pulumi stack select --create", "pulumi preview", "pulumi up"):
        assert re.search(rf"\$ {command}.*\(in k8s\)", text), command
    assert re.search(r"render cluster side\n  ✓ done in [0-9.]+ s: \d+ objects from chart airflow-1.22.0, valid for Kubernetes 1.33", text)
    # A clone without a remote: the dry run goes on, and says a real deploy would be refused.
    assert "warning: this clone has no remote 'origin': HEAD is checked against the local main only" in text
