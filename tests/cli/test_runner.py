"""The terraform and pulumi runners: which binary, what a dry run shows, what a failure shows."""

from __future__ import annotations

import pytest

from infra.errors import UserError
from infra.runner import CommandFailed, PulumiRunner, TerraformRunner
from tests.cli.helpers import console, output


def test_missing_terraform_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("TERRAFORM_BIN", raising=False)
    with pytest.raises(UserError, match="terraform is not on PATH: install Terraform >= 1.5 or OpenTofu, or set TERRAFORM_BIN"):
        TerraformRunner(console()).init(tmp_path)


def test_terraform_bin_that_is_not_executable_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("TERRAFORM_BIN", str(tmp_path / "no-such-tofu"))
    with pytest.raises(UserError, match="TERRAFORM_BIN=.*no-such-tofu is not an executable file"):
        TerraformRunner(console()).init(tmp_path)


def test_dry_run_prints_command_and_cwd_and_runs_nothing(tmp_path, fake_tools, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # not even installed: a dry run does not need it
    con = console()
    tf = TerraformRunner(con, dry_run=True)
    assert tf.plan(tmp_path, tmp_path / "x.tfplan") == 2
    assert tf.show_json(tmp_path, tmp_path / "x.tfplan") is None
    PulumiRunner(con, dry_run=True).up(tmp_path, "prod")
    text = output(con)
    assert f"$ terraform plan -input=false -no-color -detailed-exitcode -lock=true -out={tmp_path}/x.tfplan   (in {tmp_path})" in text
    assert f"$ pulumi up --stack prod --yes --non-interactive --skip-preview   (in {tmp_path})" in text
    assert fake_tools.commands() == []


def test_failed_command_shows_its_output_and_exit_code(tmp_path, fake_tools):
    fake_tools.env("FAKE_TF_FAIL", "init")
    con = console()
    with pytest.raises(CommandFailed, match=r"`terraform init -input=false -no-color` failed with exit code 1"):
        TerraformRunner(con).init(tmp_path)
    assert "Error acquiring the state lock" in output(con)


def test_terraform_runs_without_asking_questions(tmp_path, fake_tools, monkeypatch):
    monkeypatch.setenv("FAKE_TF_OUTPUTS", str(tmp_path / "outputs.json"))
    (tmp_path / "outputs.json").write_text('{"cluster_name": {"sensitive": false, "type": "string", "value": "af-dev-gke"}}')
    assert TerraformRunner(console()).output_json(tmp_path) == {"cluster_name": "af-dev-gke"}
    (entry,) = fake_tools.commands()
    assert entry["argv"] == ["output", "-json"] and entry["cwd"] == str(tmp_path)


@pytest.mark.parametrize(
    "printed,problem",
    [
        ("", "printed nothing where JSON was expected"),
        ("Warning: No outputs found\n", "printed something that is not JSON (Expecting value at line 1"),
        ('["not", "an", "object"]', "printed JSON that is not an object"),
    ],
)
def test_terraform_output_that_is_not_a_json_object_is_one_line_naming_the_command(tmp_path, fake_tools, printed, problem):
    fake_tools.env("FAKE_TF_OUTPUTS", str(tmp_path / "outputs.json"))
    (tmp_path / "outputs.json").write_text(printed)
    with pytest.raises(UserError) as error:
        TerraformRunner(console()).output_json(tmp_path)
    message = str(error.value)
    assert message.startswith(f"`terraform output -json` {problem}") and f"in {tmp_path}" in message
    assert message.endswith("run it there by hand to see why") and "\n" not in message


def test_pulumi_printing_nothing_where_json_was_expected_is_one_line(tmp_path, fake_tools):
    fake_tools.env("FAKE_PULUMI_OUTPUTS", "")
    with pytest.raises(UserError, match=r"^`pulumi stack output --json` printed nothing where JSON was expected \(in "):
        PulumiRunner(console()).stack_outputs(tmp_path, "prod")
