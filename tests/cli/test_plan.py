"""`invoke plan ENV`: the report a reviewer reads (golden markdown), exit codes, the saved plan file."""

from __future__ import annotations

import json
import os

import pytest

from infra.plan import plan
from infra.plan_report import from_terraform_plan, render_json, render_markdown, render_text
from tests.cli.helpers import FIXTURES, GOLDEN, load_env

SECRET_VALUES = ("fixture-old-value-not-a-secret", "fixture-new-value-not-a-secret")


@pytest.fixture
def report():
    return from_terraform_plan(json.loads((FIXTURES / "plan_prod.json").read_text()), "prod", "terraform plan of cdktf.out/stacks/prod")


def test_markdown_report_matches_the_golden_file(report):
    # Regenerate after an intended change: UPDATE_GOLDEN=1 pytest tests/cli/test_plan.py
    golden = GOLDEN / "plan_prod.md"
    text = render_markdown(report)
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(text)
    assert text == golden.read_text()


def test_counts_follow_terraform_actions_and_ignore_reads_and_no_ops(report):
    assert report.counts() == {"create": 3, "update": 2, "replace": 1, "destroy": 2}


def test_stateful_destroys_and_replacements_come_first_and_loud(report):
    assert [c.address for c in report.dangerous()] == [
        "google_storage_bucket.logs_task-logs-bucket_30E5DB91",
        "google_container_cluster.gke_cluster_C5D95197",
    ]
    text = render_text(report)
    assert text.index("STATEFUL RESOURCES WILL BE DESTROYED OR REPLACED") < text.index("ACTION")
    assert "REPLACE  google_container_cluster.gke_cluster_C5D95197 (forced by: private_cluster_config[0].master_ipv4_cidr_block)" in text
    markdown = render_markdown(report)
    assert "> [!CAUTION]" in markdown and "<details>" in markdown


def test_changed_attributes_show_old_and_new_values(report):
    text = render_text(report)
    assert 'settings[0].tier: "db-custom-4-15360" → "db-custom-8-30720"' in text
    assert "autoscaling[0].max_node_count: 10 → 12" in text
    assert "endpoint: \"34.78.10.20\" → (known after apply)" in text


@pytest.mark.parametrize("render", [render_text, render_markdown, render_json])
def test_sensitive_values_never_reach_a_report(report, render):
    text = render(report)
    for value in SECRET_VALUES:
        assert value not in text
    assert "root_password" in text and "(sensitive)" in text


def test_online_plan_exit_code_report_file_and_saved_plan(project, fake_tools, capsys, monkeypatch):
    monkeypatch.chdir(project)
    out = project / "reports" / "plan.md"
    code = plan(load_env("prod", project), fmt="markdown", out=str(out), root=project)
    assert code == 2, "changes → exit code 2, like terraform's -detailed-exitcode"
    captured = capsys.readouterr()
    assert out.read_text() == captured.out and out.read_text().startswith("### Plan for `prod`: 3 to create")
    plan_file = project / "cdktf.out" / "plans" / "prod.tfplan"
    assert plan_file.is_file() and (project / "cdktf.out" / "plans" / "prod.tfplan.meta.json").is_file()
    assert f"--plan-file {plan_file}" in captured.err or "--plan-file cdktf.out/plans/prod.tfplan" in captured.err
    init, tf_plan, show = fake_tools.commands("terraform")
    assert init["argv"][0] == "init" and "-detailed-exitcode" in tf_plan["argv"] and show["argv"][:2] == ["show", "-json"]


def test_a_plan_to_read_never_takes_the_state_lock_and_a_deploy_always_does(project, fake_tools, clients, capsys):
    # PR plans run with read-only credentials: the GCS backend's lock is an object they cannot write.
    from infra.deploy import deploy
    from tests.cli.helpers import console

    plan(load_env("dev", project), root=project)
    (shown,) = [c["argv"] for c in fake_tools.commands("terraform") if c["argv"][0] == "plan"]
    assert "-lock=false" in shown
    fake_tools.log.unlink()
    deploy(load_env("dev", project), yes=True, root=project, clients=clients, console=console())
    for command in ("plan", "apply"):
        (argv,) = [c["argv"] for c in fake_tools.commands("terraform") if c["argv"][0] == command]
        assert "-lock=false" not in argv and "-lock=true" in argv, command


def test_online_plan_without_changes_exits_0(project, fake_tools, capsys):
    fake_tools.env("FAKE_TF_NO_CHANGES", "1")
    assert plan(load_env("dev", project), root=project) == 0
    assert "Plan for dev (terraform plan of cdktf.out/stacks/dev): no changes" in capsys.readouterr().out


def test_terraform_bin_selects_another_binary(project, fake_tools, monkeypatch):
    tofu = fake_tools.bindir / "tofu"
    tofu.write_text((fake_tools.bindir / "terraform").read_text())
    tofu.chmod(0o755)
    (fake_tools.bindir / "terraform").unlink()
    monkeypatch.setenv("TERRAFORM_BIN", "tofu")
    assert plan(load_env("dev", project), root=project) == 2
    assert len(fake_tools.commands("terraform")) == 3
