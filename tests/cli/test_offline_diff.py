"""`invoke plan ENV --offline`: two commits of a real project copy, each synthesized with its own code."""

from __future__ import annotations

import re

import pytest

from infra.errors import UserError
from infra.offline_diff import diff_stacks, offline_report
from infra.plan_report import render_markdown, render_text
from tests.cli.helpers import copy_project, git, load_env, make_repo


@pytest.mark.integration
def test_environment_file_change_shows_exactly_the_changed_attribute(tmp_path):
    repo = copy_project(tmp_path / "repo")
    prod = repo / "environments" / "prod.yaml"
    prod.write_text(prod.read_text().replace("tier: db-custom-4-15360", "tier: db-custom-8-30720"))
    git(repo, "commit", "-q", "-am", "prod: bigger database")

    report = offline_report(load_env("prod", repo), "HEAD~1", root=repo)

    assert [(c.type, c.action) for c in report.changes] == [("google_sql_database_instance", "update")]
    (change,) = report.changes
    assert [(a.path, a.old, a.new) for a in change.attributes] == [
        ("settings.tier", '"db-custom-4-15360"', '"db-custom-8-30720"')
    ]
    assert 'settings.tier: "db-custom-4-15360" → "db-custom-8-30720"' in render_text(report)
    assert "working tree against HEAD~1" in report.source


@pytest.mark.integration
def test_construct_code_change_is_synthesized_with_each_commits_own_code(tmp_path):
    repo = copy_project(tmp_path / "repo")
    logs = repo / "stacks" / "logs.py"
    source = logs.read_text()
    assert 'description=f"' in source
    logs.write_text(source.replace('description=f"', 'description=f"Changed: ', 1))
    # Uncommitted: the working tree is what the PR would contain.

    report = offline_report(load_env("dev", repo), "main", root=repo)

    assert [(c.type, c.action) for c in report.changes] == [("google_logging_project_bucket_config", "update")]
    (attribute,) = report.changes[0].attributes
    assert attribute.path == "description"
    assert attribute.new.startswith('"Changed: ') and not attribute.old.startswith('"Changed: ')


def test_missing_base_ref_is_a_clear_error(tmp_path):
    repo = make_repo(tmp_path / "repo")
    with pytest.raises(UserError, match=r"git ref 'origin/gone' does not exist in this clone \(a shallow clone\?"):
        offline_report(load_env("dev", repo), "origin/gone", root=repo)


def test_no_main_to_take_the_merge_base_with_is_a_clear_error(tmp_path):
    repo = make_repo(tmp_path / "repo")
    git(repo, "branch", "-m", "main", "trunk")
    git(repo, "remote", "remove", "origin")  # and no origin/main either
    with pytest.raises(UserError, match="no branch `main`.*pass --base REF"):
        offline_report(load_env("dev", repo), None, root=repo)


def stack(resources):
    return {"resource": resources, "//": {"metadata": {"version": "0.24.0"}}}


def test_stack_diff_names_creates_destroys_and_replacements_and_masks_secrets():
    old = stack(
        {
            "google_sql_database_instance": {"db": {"name": "af-dev-pg", "settings": {"tier": "db-custom-1-3840"}, "root_password": "old-fixture"}},
            "google_storage_bucket": {"archive": {"name": "a-logs", "location": "EU", "//": {"metadata": {"path": "dev/logs"}}}},
            "google_compute_firewall": {"deny": {"name": "deny-all"}},
        }
    )
    new = stack(
        {
            "google_sql_database_instance": {"db": {"name": "af-dev-pg", "settings": {"tier": "db-custom-2-7680"}, "root_password": "new-fixture"}},
            "google_storage_bucket": {"archive": {"name": "a-logs", "location": "EUROPE-WEST1", "//": {"metadata": {"path": "dev/logs2"}}}},
            "google_project_iam_member": {"writer": {"role": "roles/logging.logWriter"}},
        }
    )
    report = diff_stacks(old, new, "dev", "test")
    actions = {c.address: c.action for c in report.changes}
    assert actions == {
        "google_sql_database_instance.db": "update",
        "google_storage_bucket.archive": "replace",
        "google_compute_firewall.deny": "destroy",
        "google_project_iam_member.writer": "create",
    }
    assert report.dangerous()[0].address == "google_storage_bucket.archive"
    markdown = render_markdown(report)
    assert "old-fixture" not in markdown and "new-fixture" not in markdown
    assert re.search(r"`root_password` \| `\(sensitive\)` \| `\(sensitive\)`", markdown)


@pytest.mark.integration
def test_cluster_side_shows_the_scheduler_replicas_edit_object_by_object(tmp_path):
    from infra.manifest_diff import cluster_report
    from tests.k8s.kit import require_helm_and_chart

    require_helm_and_chart()
    repo = copy_project(tmp_path / "repo")
    prod = repo / "environments" / "prod.yaml"
    prod.write_text(prod.read_text().replace("replicas: {api_server: 2, scheduler: 2,", "replicas: {api_server: 2, scheduler: 3,"))
    git(repo, "commit", "-q", "-am", "prod: a third scheduler")

    report = cluster_report(load_env("prod", repo), "HEAD~1", root=repo)

    assert [(c.address, c.action) for c in report.changes] == [("Deployment/airflow-scheduler", "update")]
    assert [(a.path, a.old, a.new) for a in report.changes[0].attributes] == [("spec.replicas", "2", "3")]
    assert "spec.replicas: 2 → 3" in render_text(report)
    assert "| `spec.replicas` | `2` | `3` |" in render_markdown(report)


def test_a_config_change_is_shown_as_the_airflow_cfg_option_it_changes():
    from infra.manifest_diff import diff_manifests

    def configmap(parallelism):
        cfg = f"[core]\nparallelism = {parallelism}\nexecutor = KubernetesExecutor\n"
        return {"kind": "ConfigMap", "metadata": {"name": "airflow-config"}, "data": {"airflow.cfg": cfg}}

    service = {"kind": "Service", "metadata": {"name": "airflow-api-server"}, "spec": {"ports": [{"port": 8080}]}}
    report = diff_manifests([configmap(32), service], [configmap(64)], "prod cluster side", "test")
    assert [(c.address, c.action) for c in report.changes] == [
        ("ConfigMap/airflow-config", "update"), ("Service/airflow-api-server", "destroy")
    ]
    assert [(a.path, a.old, a.new) for a in report.changes[0].attributes] == [("data.airflow.cfg.core.parallelism", '"32"', '"64"')]


@pytest.mark.integration
def test_offline_plan_with_only_a_cluster_change_reports_changes_and_carries_the_cluster_side(tmp_path, capsys):
    import json

    from infra.plan import plan
    from tests.k8s.kit import require_helm_and_chart

    require_helm_and_chart()
    repo = copy_project(tmp_path / "repo")
    prod = repo / "environments" / "prod.yaml"
    prod.write_text(prod.read_text().replace("replicas: {api_server: 2, scheduler: 2,", "replicas: {api_server: 2, scheduler: 3,"))

    code = plan(load_env("prod", repo), fmt="json", offline=True, base="main", root=repo)

    assert code == 2, "a manifest change is a change even when the stack is the same"
    report = json.loads(capsys.readouterr().out)
    assert report["changes"] == []
    assert [c["address"] for c in report["cluster_side"]["changes"]] == ["Deployment/airflow-scheduler"]
