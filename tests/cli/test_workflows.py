"""The GitHub workflows shipped for the project's users: valid, and doing what the README promises.

Syntax: GitHub's workflow JSON schema as vendored by check-jsonschema (works offline; actionlint's
PyPI package downloads its binary from GitHub at install time, which fails without internet), plus the
keys GitHub requires, checked directly so the test means something without check-jsonschema too.
"""

from __future__ import annotations

import json
import re
from importlib import resources

import pytest
import yaml

from tests.cli.helpers import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"


def load(name: str) -> dict:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as true
    return data


@pytest.mark.parametrize("name", ["pr.yml", "deploy.yml"])
def test_workflow_has_the_keys_github_requires(name):
    workflow = load(name)
    assert workflow["on"] and workflow["jobs"], f"{name}: `on` and `jobs` are required"
    for job_id, job in workflow["jobs"].items():
        assert "runs-on" in job, f"{name}: job {job_id} has no runs-on"
        assert job["steps"], f"{name}: job {job_id} has no steps"
        for step in job["steps"]:
            assert ("uses" in step) != ("run" in step), f"{name}: job {job_id}: a step needs exactly one of uses/run: {step}"
        for need in [job.get("needs")] if isinstance(job.get("needs"), str) else job.get("needs", []):
            assert need in workflow["jobs"], f"{name}: job {job_id} needs unknown job {need}"


@pytest.mark.parametrize("name", ["pr.yml", "deploy.yml"])
def test_workflow_matches_githubs_schema(name):
    jsonschema = pytest.importorskip("jsonschema")
    pytest.importorskip("check_jsonschema")
    schema_file = resources.files("check_jsonschema.builtin_schemas.vendor") / "github-workflows.json"
    schema = json.loads(schema_file.read_text())
    instance = yaml.safe_load((WORKFLOWS / name).read_text())
    instance["on"] = instance.pop(True)
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(instance), key=lambda e: list(e.path))
    assert not errors, f"{name}: " + "; ".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors[:5])


def test_pull_requests_run_tests_then_plan_every_environment_as_markdown():
    jobs = load("pr.yml")["jobs"]
    assert any(step.get("run") == "pytest" for step in jobs["test"]["steps"])
    plan = jobs["plan"]
    assert plan["needs"] == "test"
    assert plan["strategy"]["matrix"]["env"] == ["dev", "qa", "prod"]
    script = next(step["run"] for step in plan["steps"] if step.get("name", "").startswith("Plan"))
    assert "--format markdown" in script and "--offline" in script, "online with credentials, offline otherwise"
    assert any("comment" in step.get("name", "").lower() for step in plan["steps"])


def test_merges_deploy_dev_then_qa_and_tags_deploy_prod_behind_approval():
    workflow = load("deploy.yml")
    assert workflow["on"]["push"] == {"branches": ["main"], "tags": ["v*"]}
    jobs = workflow["jobs"]
    assert jobs["qa"]["needs"] == "dev" and "refs/heads/main" in jobs["dev"]["if"]
    assert "refs/tags/" in jobs["prod"]["if"] and jobs["prod"]["environment"] == "prod"
    commands = {job_id: [s["run"] for s in job["steps"] if "run" in s] for job_id, job in jobs.items()}
    assert "invoke deploy dev --yes" in commands["dev"]
    assert "invoke deploy qa --yes" in commands["qa"]
    assert "invoke deploy prod --yes" in commands["prod"]


def test_every_job_that_renders_the_chart_installs_helm_and_the_plan_carries_the_cluster_side():
    for name in ("pr.yml", "deploy.yml"):
        for job_id, job in load(name)["jobs"].items():
            runs = [step.get("run", "") for step in job["steps"]]
            if any("pytest" in r or "invoke" in r for r in runs):
                assert ".ci/install-helm" in runs, f"{name}: job {job_id} renders the chart without helm"
    plan = load("pr.yml")["jobs"]["plan"]
    script = next(step["run"] for step in plan["steps"] if step.get("name", "").startswith("Plan"))
    assert "invoke k8s.diff" in script, "online plans append the cluster-side diff (offline plans include it)"


SHA_PIN = re.compile(r"^\s*(?:- )?uses: ([\w.-]+/[\w./-]+)@([0-9a-f]{40}) # v\d+(?:\.\d+){1,2}$")


@pytest.mark.parametrize("name", ["pr.yml", "deploy.yml"])
def test_every_action_is_pinned_by_commit_sha_with_its_version_in_a_comment(name):
    lines = [line for line in (WORKFLOWS / name).read_text().splitlines() if re.match(r"^\s*(- )?uses:", line)]
    assert lines, f"{name} uses no action?"
    for line in lines:
        assert SHA_PIN.match(line), f"{name}: not pinned by SHA with a `# vX.Y.Z` comment: {line.strip()}"


def test_the_same_action_is_pinned_to_one_commit_everywhere():
    pins = {}
    for workflow in ("pr.yml", "deploy.yml"):
        for match in filter(None, map(SHA_PIN.match, (WORKFLOWS / workflow).read_text().splitlines())):
            pins.setdefault(match.group(1), set()).add(match.group(2))
    assert {action: shas for action, shas in pins.items() if len(shas) > 1} == {}


def test_jobs_install_the_hash_pinned_policy_gate_before_google_credentials():
    for name in ("pr.yml", "deploy.yml"):
        for job_id, job in load(name)["jobs"].items():
            steps = job["steps"]
            auth = [i for i, step in enumerate(steps) if "google-github-actions/auth" in step.get("uses", "")]
            if not auth:
                continue
            runs_gate = any("invoke deploy" in step.get("run", "") for step in steps)
            if runs_gate:
                gate = [i for i, step in enumerate(steps) if "ensure_checkov" in step.get("run", "")]
                assert gate and gate[0] < auth[0], f"{name}: job {job_id} installs checkov after the credentials"
            installs = [i for i, step in enumerate(steps) if "pip install" in step.get("run", "")]
            assert installs and max(installs) < auth[0], f"{name}: job {job_id} installs packages after the credentials"


def test_checkov_requirements_pin_every_package_with_a_hash():
    from infra.policy import CHECKOV_REQUIREMENTS, CHECKOV_VERSION

    text = CHECKOV_REQUIREMENTS.read_text()
    entries = re.split(r"\n(?=[A-Za-z0-9])", text)
    requirements = [entry for entry in entries if re.match(r"^[A-Za-z0-9][\w.-]*==", entry)]
    assert f"checkov=={CHECKOV_VERSION} " in text
    assert len(requirements) > 50, "checkov's whole dependency tree is pinned"
    for entry in requirements:
        assert "--hash=sha256:" in entry, f"no hash for {entry.splitlines()[0]}"
    assert not re.search(r"^[A-Za-z0-9][\w.-]*\s*(>=|<=|~=|>|<|$)", text, re.M), "every requirement is pinned with =="


@pytest.mark.integration
def test_the_policy_gate_refuses_to_install_a_requirement_without_its_hash(tmp_path):
    from infra.errors import UserError
    from infra.policy import ensure_checkov

    unpinned = tmp_path / "checkov.txt"
    unpinned.write_text("checkov==3.3.30\n")
    with pytest.raises(UserError, match=r"could not install checkov 3.3.30 into .* from checkov.txt: Hashes are required in --require-hashes mode"):
        ensure_checkov(tmp_path / "venv", unpinned)
    assert not (tmp_path / "venv").exists(), "nothing half-installed is left"
