"""The manifest policy gate: checkov's kubernetes framework passes every environment, and bites."""

from __future__ import annotations

import shutil

import pytest
import yaml

from infra.manifest_policy import K8S_CONFIG, run_checkov_k8s
from infra.policy import skip_reasons

pytestmark = pytest.mark.integration


def test_every_environments_manifests_pass_with_only_the_written_down_skips(rendered):
    for name, manifests in rendered.items():
        verdict = run_checkov_k8s(manifests.folder)
        assert verdict.failures == [] and verdict.problems == [], name
        assert verdict.passed > 200, f"{name}: only {verdict.passed} checks passed"
        assert "Deployment/airflow-scheduler" in verdict.resources


def test_every_skip_has_a_reason():
    reasons = skip_reasons(K8S_CONFIG)
    assert reasons and all(len(reason) > 40 for reason in reasons.values()), reasons


def test_a_privileged_root_container_fails_the_gate(rendered, tmp_path):
    folder = tmp_path / "prod"
    shutil.copytree(rendered["prod"].folder, folder)
    path = folder / "deployment-airflow-scheduler.yaml"
    deployment = yaml.safe_load(path.read_text())
    pod = deployment["spec"]["template"]["spec"]
    pod.pop("securityContext", None)
    pod["containers"][0]["securityContext"] = {"privileged": True, "runAsUser": 0}
    path.write_text(yaml.safe_dump(deployment))

    verdict = run_checkov_k8s(folder)
    failed = {f.check_id for f in verdict.failures if f.resource == "Deployment/airflow-scheduler"}
    assert {"CKV_K8S_16", "CKV_K8S_23"} <= failed  # privileged; running as root
