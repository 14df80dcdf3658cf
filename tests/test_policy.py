"""The checkov policy gate: 0 failed checks on every environment, a real failure when the stack is insecure."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from infra.config import load_environment
from infra.policy import CHECKOV_CONFIG, run_checkov, skip_reasons
from infra.synth import synth_environments

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


@pytest.fixture(scope="module")
def stack_jsons(tmp_path_factory) -> dict[str, Path]:
    envs = [load_environment(ROOT / "environments" / f"{name}.yaml") for name in ("dev", "qa", "prod")]
    results = synth_environments(envs, tmp_path_factory.mktemp("policy") / "cdktf.out")
    return {result.env: result.json_path for result in results}


@pytest.mark.integration
def test_every_environment_passes_the_gate(stack_jsons):
    result = run_checkov(list(stack_jsons.values()))
    for name, stack in zip(stack_jsons, result.stacks):
        assert stack.failures == [], f"{name}: {stack.failures}"
        assert stack.problems == [], f"{name}: {stack.problems}"
        assert stack.passed > 50, f"{name}: only {stack.passed} checks passed"
        assert len(stack.resources) > 10
    assert result.ok


@pytest.mark.integration
def test_cloud_sql_with_a_public_ip_fails_the_gate(stack_jsons, tmp_path):
    stack = json.loads(stack_jsons["prod"].read_text())
    (instance,) = stack["resource"]["google_sql_database_instance"].values()
    instance["settings"]["ip_configuration"].update(
        ipv4_enabled=True, authorized_networks=[{"name": "anyone", "value": "0.0.0.0/0"}]
    )
    insecure = tmp_path / "stacks" / "prod" / "cdk.tf.json"
    insecure.parent.mkdir(parents=True)
    insecure.write_text(json.dumps(stack))

    result = run_checkov([insecure])
    assert not result.ok
    failed_on_sql = {f.check_id for f in result.stacks[0].failures if f.resource == "prod/database/instance"}
    assert failed_on_sql, result.stacks[0].failures


@pytest.mark.integration
def test_a_file_checkov_cannot_read_is_not_a_pass(tmp_path):
    # checkov reports 0 checks and exits 0 for a file it did not understand: the gate must not.
    unreadable = tmp_path / "cdk.tf.json"
    unreadable.write_text(json.dumps({"resource": {}, "output": {}}))
    result = run_checkov([unreadable])
    assert not result.ok
    assert result.stacks[0].problems


def test_every_skip_is_one_check_with_a_reason():
    text = CHECKOV_CONFIG.read_text()
    listed = re.findall(r"^\s*-\s*(\S+)\s*$", text.split("skip-check:", 1)[1], flags=re.M)
    assert listed, "no skip-check entries found"
    assert all(re.fullmatch(r"CKV2?_GCP_\d+", check) for check in listed), listed  # no wildcards, no families
    reasons = skip_reasons()
    assert set(reasons) == set(listed)
    for check, reason in reasons.items():
        assert len(reason) > 80, f"{check}: reason too short to explain anything: {reason!r}"
