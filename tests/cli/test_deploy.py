"""`deploy` and `destroy` of GCP environments, against fake terraform/pulumi and loopback Google APIs."""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import stat
import sys

import pytest
import yaml
from cryptography.fernet import Fernet
from invoke.exceptions import Exit

from infra import cli, naming
from infra.deploy import DEPLOY_STEPS, deploy
from infra.destroy import destroy
from infra.errors import UserError
from tests.cli.helpers import FIXTURES, console, git, load_env, output

pytestmark = pytest.mark.usefixtures("passing_policy")


def no_tty(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))


def test_deploy_runs_every_step_in_order_and_applies_the_saved_plan(project, fake_tools, clients, fake_google):
    con = console()
    assert deploy(load_env("prod", project), yes=True, root=project, clients=clients, console=con) == 0

    tf = fake_tools.commands("terraform")
    assert [c["argv"][0] for c in tf] == ["init", "plan", "show", "apply", "output"]
    plan_out = next(a for a in tf[1]["argv"] if a.startswith("-out=")).split("=", 1)[1]
    assert tf[2]["argv"][-1] == plan_out, "the summary shows the saved plan"
    assert tf[3]["argv"][-1] == plan_out, "apply applies exactly the saved plan file"
    assert all(c["cwd"] == str(project / "cdktf.out" / "stacks" / "prod") for c in tf)
    assert plan_out == str(project / "cdktf.out" / "plans" / "prod.tfplan")

    text = output(con)
    positions = [text.index(f"/{len(DEPLOY_STEPS)} {name}") for name in DEPLOY_STEPS]
    assert positions == sorted(positions), "steps are shown in the documented order"
    assert "– skipped" not in text and "│ skipped" not in text, "a first deploy runs every step"
    assert "Apply complete!" in text, "terraform apply's output is shown as it runs"
    pulumi = [" ".join(c["argv"][:2]) for c in fake_tools.commands("pulumi")]
    assert pulumi == ["version", "stack select", "preview --stack", "up --stack", "up --stack", "stack output"]


def test_first_deploy_creates_the_state_bucket_and_says_so(project, fake_tools, clients, fake_google):
    con = console()
    deploy(load_env("prod", project), yes=True, root=project, clients=clients, console=con)
    bucket = fake_google.buckets["acme-airflow-prod-tfstate"]
    assert bucket["project"] == "acme-airflow-prod" and bucket["versioning"] == {"enabled": True}
    assert bucket["iamConfiguration"]["publicAccessPrevention"] == "enforced"
    assert "created the state bucket gs://acme-airflow-prod-tfstate" in output(con)


def test_deploy_generates_each_missing_secret_once_and_never_prints_it(project, fake_tools, clients, fake_google):
    con = console()
    env = load_env("prod", project)
    deploy(env, yes=True, root=project, clients=clients, console=con)
    generated = sorted(name for name in fake_google.versions if "oauth" not in name)
    assert generated == ["af_prod_api_secret_key", "af_prod_fernet_key", "af_prod_jwt_secret"]
    fernet_key = fake_google.versions["af_prod_fernet_key"][0]
    Fernet(fernet_key)  # Airflow's fernet key must be a valid Fernet key
    for name in ("af_prod_jwt_secret", "af_prod_api_secret_key"):
        assert len(fake_google.versions[name][0]) >= 64, f"{name}: HS512 wants a key of at least 64 bytes"
    for values in fake_google.versions.values():
        assert values[0].decode() not in output(con)

    deploy(env, yes=True, root=project, clients=clients, console=console())
    assert all(len(v) == 1 for v in fake_google.versions.values()), "a second deploy keeps existing secrets"


def test_a_missing_sign_in_client_stops_the_deploy_at_the_secrets_step_with_the_command_to_add_it(project, fake_tools, clients, fake_google):
    del fake_google.versions["af_prod_oauth_client_secret"]
    con = console()
    with pytest.raises(Exit) as exit_info:
        cli.guarded(deploy, load_env("prod", project), yes=True, root=project, clients=clients, console=con)
    message = str(exit_info.value.message)
    assert "af_prod_oauth_client_secret has no version" in message
    assert "gcloud secrets versions add af_prod_oauth_client_secret --project acme-airflow-prod" in message
    assert "Traceback" not in output(con)
    assert fake_tools.commands("pulumi") == [], "the cluster side never starts without the sign-in client"


def fake_auth_plugin(bindir, token="token-from-the-plugin"):
    """A gke-gcloud-auth-plugin stand-in printing an ExecCredential, as the real one does."""
    plugin = bindir / "gke-gcloud-auth-plugin"
    credential = {"apiVersion": "client.authentication.k8s.io/v1beta1", "kind": "ExecCredential", "status": {"token": token}}
    plugin.write_text(f"#!/bin/sh\necho '{json.dumps(credential)}'\n")
    plugin.chmod(0o755)
    return plugin


def test_kubeconfig_uses_the_gke_auth_plugin_and_holds_no_token(project, fake_tools, clients, fake_google, monkeypatch):
    fake_auth_plugin(fake_tools.bindir)
    monkeypatch.setenv("PATH", f"{fake_tools.bindir}{os.pathsep}{os.environ['PATH']}")
    deploy(load_env("prod", project), yes=True, root=project, clients=clients, console=console())
    path = project / "cdktf.out" / "kube" / "prod.yaml"
    config = yaml.safe_load(path.read_text())
    cluster = config["clusters"][0]["cluster"]
    assert cluster["server"] == "https://34.78.10.20"
    assert base64.b64decode(cluster["certificate-authority-data"]).startswith(b"-----BEGIN CERTIFICATE-----")
    user = config["users"][0]["user"]
    assert "token" not in user and "fixture-access-token" not in path.read_text()
    assert user["exec"]["command"] == "gke-gcloud-auth-plugin"
    assert user["exec"]["apiVersion"] == "client.authentication.k8s.io/v1beta1"
    assert user["exec"]["provideClusterInfo"] is True and "gke-gcloud-auth-plugin" in user["exec"]["installHint"]

    # A real Kubernetes client runs the plugin from this file and authenticates with what it prints.
    from kubernetes import client, config as kube_config

    configuration = client.Configuration()
    kube_config.load_kube_config(config_file=str(path), client_configuration=configuration)
    assert configuration.api_key == {"BearerToken": "Bearer token-from-the-plugin"}


def test_without_the_auth_plugin_the_kubeconfig_embeds_a_token_in_an_owner_only_file(project, fake_tools, clients, fake_google, monkeypatch):
    # The real plugin is installed here: PATH keeps only the fake tools and git.
    tools = fake_tools.bindir.parent / "only-git"
    tools.mkdir()
    (tools / "git").symlink_to(shutil.which("git"))
    monkeypatch.setenv("PATH", f"{fake_tools.bindir}{os.pathsep}{tools}")
    path = project / "cdktf.out" / "kube" / "prod.yaml"
    path.parent.mkdir(parents=True)
    path.write_text("an old kubeconfig, world-readable\n")
    path.chmod(0o644)
    modes_when_written = []
    real_fdopen = os.fdopen

    def fdopen(fd, *args, **kwargs):
        handle = real_fdopen(fd, *args, **kwargs)
        write = handle.write
        handle.write = lambda text: (modes_when_written.append(stat.S_IMODE(os.fstat(fd).st_mode)), write(text))[1]
        return handle

    monkeypatch.setattr(os, "fdopen", fdopen)
    con = console()
    deploy(load_env("prod", project), yes=True, root=project, clients=clients, console=con)
    assert yaml.safe_load(path.read_text())["users"][0]["user"] == {"token": "fixture-access-token"}
    assert modes_when_written and set(modes_when_written) == {0o600}, "owner-only before the token is written"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "gke-gcloud-auth-plugin not found" in output(con)


def test_cluster_side_runs_the_environments_stack_with_its_backend_and_kms_secrets_provider(project, fake_tools, clients):
    env = load_env("dev", project)
    deploy(env, yes=True, root=project, clients=clients, console=console())
    commands = fake_tools.commands("pulumi")
    assert commands, "the cluster side runs pulumi"
    for command in commands:
        assert command["cwd"] == str(project / "k8s")
        assert command["env"]["PULUMI_BACKEND_URL"] == naming.pulumi_backend_url(env) == "gs://acme-airflow-dev-tfstate/pulumi"
        assert command["env"]["PULUMI_PYTHON_CMD"] == sys.executable, "the program runs on the toolkit's interpreter"
    select = commands[1]["argv"]  # after `pulumi version`
    assert select[:3] == ["stack", "select", "--create"] and select[select.index("--stack") + 1] == "dev"
    assert select[select.index("--secrets-provider") + 1] == naming.pulumi_secrets_provider(env) == (
        "gcpkms://projects/acme-airflow-dev/locations/europe-west1/keyRings/af-pulumi/cryptoKeys/af-dev-pulumi")
    ups = [c for c in commands if c["argv"][0] == "up"]
    assert all(c["kubeconfig"] == str(project / "cdktf.out" / "kube" / "dev.yaml") for c in ups)


def test_migrations_apply_only_the_job_and_its_prerequisites_before_the_full_up(project, fake_tools, clients):
    from infra.cluster_resources import migrations_plan
    from infra.k8s_render import read

    env = load_env("dev", project)
    deploy(env, yes=True, root=project, clients=clients, console=console())
    ups = [c["argv"] for c in fake_tools.commands("pulumi") if c["argv"][0] == "up"]
    assert len(ups) == 2, "migrations, then everything"
    migrations, full = ups
    excluded = [migrations[i + 1] for i, a in enumerate(migrations) if a == "--exclude"]
    plan = migrations_plan(env, read(project / "build" / "k8s" / "dev"))
    assert excluded == plan.excluded and len(excluded) >= 14, "every chart object waits for the full up"
    assert not set(excluded) & set(plan.applied), "nothing the Job needs is excluded"
    assert "--exclude" not in full


def test_the_program_gets_the_terraform_outputs_and_the_image_tag_in_a_file_without_secrets(project, fake_tools, clients, fake_google):
    from infra.image import content_tag

    deploy(load_env("prod", project), yes=True, root=project, clients=clients, console=console())
    (select, *_rest) = fake_tools.commands("pulumi")
    inputs = json.loads(open(select["env"]["AIRFLOW_PLATFORM_INPUTS"]).read())
    assert inputs == {"sql_connection_name": "acme-airflow-prod:europe-west1:af-prod-pg", "image_tag": content_tag(project)}
    for values in fake_google.versions.values():
        assert values[0].decode() not in json.dumps(inputs)
    scheduler = yaml.safe_load((project / "build" / "k8s" / "prod" / "deployment-airflow-scheduler.yaml").read_text())
    images = {c["image"] for c in scheduler["spec"]["template"]["spec"]["containers"]}
    assert images == {f"{naming.image_repository(load_env('prod', project))}:{content_tag(project)}"}, "the chart runs the image just built"


def test_an_image_whose_tag_is_missing_is_built(project, fake_tools, clients, fake_google, monkeypatch):
    import infra.image as image

    built = []
    monkeypatch.setattr(image, "_cloud_build", lambda env, reference, root, clients, console: built.append(reference))
    fake_google.image_tags = set()
    con = console()
    deploy(load_env("dev", project), yes=True, root=project, clients=clients, console=con)
    assert built == [f"{naming.image_repository(load_env('dev', project))}:{image.content_tag(project)}"]
    assert f"pushed {built[0]}" in output(con)


def test_first_deploy_creates_the_projects_key_ring_once(project, fake_tools, clients, fake_google):
    con = console()
    env = load_env("dev", project)
    deploy(env, yes=True, root=project, clients=clients, console=con)
    assert list(fake_google.key_rings) == [naming.pulumi_key_ring(env)]
    assert f"created the key ring {naming.pulumi_key_ring(env)}" in output(con)
    con = console()
    deploy(env, yes=True, root=project, clients=clients, console=con)
    assert "created the key ring" not in output(con) and len(fake_google.key_rings) == 1


def test_bootstrap_and_health_reach_the_api_server_through_the_written_kubeconfig(project, fake_tools, clients, airflow_api, fake_google):
    env = load_env("dev", project)
    con = console()
    deploy(env, yes=True, root=project, clients=clients, console=con)
    kubeconfig = project / "cdktf.out" / "kube" / "dev.yaml"
    (call,) = clients.bootstrap.calls
    assert call["env"] == "dev" and call["kubeconfig"] == kubeconfig and call["dry_run"] is False
    # Connection passwords come from the environment's project in Secret Manager, through the deploy's client.
    fake_google.versions["af_dev_connections-warehouse"] = [b"not-in-yaml"]
    assert call["secrets"]("af_dev_connections-warehouse", "bootstrap.connections[0].password_secret")[0] == "not-in-yaml"
    assert airflow_api.forwarded == [("dev", kubeconfig)]
    assert f"healthy at {airflow_api.url}" in output(con)


def test_unhealthy_airflow_fails_the_last_step(project, fake_tools, clients, airflow_api, monkeypatch):
    import infra.status as status

    airflow_api.health["scheduler"]["status"] = "unhealthy"
    real = status.wait_healthy
    monkeypatch.setattr(status, "wait_healthy", lambda url, console: real(url, console=console, timeout=0, interval=0))
    with pytest.raises(UserError, match="not healthy after 0 s: scheduler unhealthy"):
        deploy(load_env("dev", project), yes=True, root=project, clients=clients, console=console())


def test_a_failing_pulumi_step_stops_the_deploy_before_migrations(project, fake_tools, clients):
    fake_tools.env("FAKE_PULUMI_FAIL", "select")
    con = console()
    with pytest.raises(Exit) as exit_info:
        cli.guarded(deploy, load_env("dev", project), yes=True, root=project, clients=clients, console=con)
    assert "pulumi stack select" in str(exit_info.value.message) and "exit code 255" in str(exit_info.value.message)
    assert "PermissionDenied" in output(con), "pulumi's own error is shown"
    assert [c["argv"][0] for c in fake_tools.commands("pulumi")] == ["version", "stack"], "nothing runs after the failure"
    assert clients.bootstrap.calls == []


def test_a_pulumi_too_old_for_the_migrations_step_is_refused_before_it_touches_the_stack(project, fake_tools, clients):
    fake_tools.env("FAKE_PULUMI_VERSION", "v3.150.0")
    with pytest.raises(UserError, match=r"pulumi v3.150.0 is too old: the migrations step needs `pulumi up --exclude` \(pulumi 3.158.0 or later\)"):
        deploy(load_env("dev", project), yes=True, root=project, clients=clients, console=console())
    assert [c["argv"] for c in fake_tools.commands("pulumi")] == [["version"]]


def test_skip_k8s_stops_before_the_cluster_side(project, fake_tools, clients):
    con = console()
    deploy(load_env("dev", project), yes=True, skip_k8s=True, root=project, clients=clients, console=con)
    assert fake_tools.commands("pulumi") == []
    assert output(con).count("skipped: --skip-k8s") == 6  # render, preview, migrations, up, bootstrap, health
    assert clients.bootstrap.calls == []


def test_dry_run_lists_every_step_and_command_with_cwd_and_runs_nothing(project, fake_tools, fake_google):
    con = console()
    deploy(load_env("prod", project), yes=True, dry_run=True, root=project, console=con)
    assert fake_tools.commands() == [], "a dry run runs no command"
    assert fake_google.server.requests == [], "a dry run calls no Google API"
    text = output(con)
    for name in DEPLOY_STEPS:
        assert f"/{len(DEPLOY_STEPS)} {name}" in text
    for command in ("$ terraform init", "$ terraform plan", "$ terraform show -json", "$ terraform apply", "$ terraform output -json"):
        assert command in text
    assert text.count("(in cdktf.out/stacks/prod)") >= 5 or text.count("stacks/prod)") >= 5


def test_dry_run_of_prod_shows_the_cluster_side_in_order_and_skips_nothing(project, fake_tools, fake_google):
    env = load_env("prod", project)
    con = console()
    deploy(env, yes=True, dry_run=True, root=project, console=con)
    text = output(con)
    assert "– skipped" not in text and "│ skipped" not in text, "no step of the dry run is skipped"
    marks = [
        "11/18 image", "would build " + naming.image_repository(env),
        "$ pulumi stack select --create --stack prod --secrets-provider " + naming.pulumi_secrets_provider(env),
        "$ pulumi preview --stack prod",
        "15/18 migrations", f"12. Job/{naming.migration_job(env)}", "$ pulumi up --stack prod --yes --non-interactive --skip-preview --exclude",
        "16/18 pulumi up", "$ pulumi up --stack prod --yes --non-interactive --skip-preview   (in",
        "17/18 bootstrap", "would port-forward to a Ready pod behind Service airflow/airflow-api-server",
        f"would ensure the FAB service user {naming.BOOTSTRAP_USER}", "would create or update pools: system_canary",
        "18/18 wait for health", "/api/v2/monitor/health",
    ]
    positions = [text.index(mark) for mark in marks]
    assert positions == sorted(positions), "image, preview, migrations, up, bootstrap, health, in that order"
    listed = text[text.index("would apply, in this order"):text.index("then leave")]
    assert listed.index("1. Namespace/airflow") < listed.index("ServiceAccount/airflow") < listed.index(
        f"Deployment/{naming.cloud_sql_proxy_service(env)}") < listed.index(f"Job/{naming.migration_job(env)}")
    assert f"state {naming.pulumi_backend_url(env)}" in text


def test_failing_terraform_step_stops_the_deploy_with_its_output(project, fake_tools, clients):
    fake_tools.env("FAKE_TF_FAIL", "plan")
    con = console()
    with pytest.raises(Exit) as exit_info:
        cli.guarded(deploy, load_env("dev", project), yes=True, root=project, clients=clients, console=con)
    assert exit_info.value.code == 1
    assert "terraform plan" in str(exit_info.value.message) and "exit code 1" in str(exit_info.value.message)
    assert "Error acquiring the state lock" in output(con), "the failed command's output is shown"
    assert [c["argv"][0] for c in fake_tools.commands()] == ["init", "plan"], "nothing runs after the failure"
    assert "not run" in output(con)


def test_failed_policy_gate_stops_before_terraform(project, fake_tools, clients, monkeypatch):
    import infra.policy as policy

    def failing(json_paths, **_):
        finding = policy.Finding("CKV_GCP_6", "Ensure all Cloud SQL database instance requires all incoming connections to use SSL", "prod/database/instance")
        return policy.PolicyResult([policy.StackPolicy(json_path=json_paths[0], passed=200, failed=1, resources={"x"}, failures=[finding])])

    monkeypatch.setattr(policy, "run_checkov", failing)
    con = console()
    with pytest.raises(UserError, match="policy gate failed for prod"):
        deploy(load_env("prod", project), yes=True, root=project, clients=clients, console=con)
    assert "CKV_GCP_6 prod/database/instance" in output(con)
    assert fake_tools.commands() == []


def test_no_changes_skips_confirm_and_apply(project, fake_tools, clients, monkeypatch):
    fake_tools.env("FAKE_TF_NO_CHANGES", "1")
    no_tty(monkeypatch)
    con = console()
    deploy(load_env("dev", project), yes=True, root=project, clients=clients, console=con)
    assert "apply" not in [c["argv"][0] for c in fake_tools.commands("terraform")]
    assert "skipped: no infrastructure changes" in output(con)


def test_a_plan_that_changes_only_outputs_is_applied(project, fake_tools, clients):
    fake_tools.env("FAKE_TF_OUTPUT_ONLY", "1")
    con = console()
    deploy(load_env("dev", project), yes=True, root=project, clients=clients, console=con)
    assert [c["argv"][0] for c in fake_tools.commands("terraform")] == ["init", "plan", "show", "apply", "output"]
    assert "no resource changes; outputs change: airflow_api_url" in output(con)


def test_a_missing_output_is_one_error_naming_it_and_the_command_that_fixes_it(project, fake_tools, clients, tmp_path):
    outputs = json.loads((FIXTURES / "outputs_prod.json").read_text())
    del outputs["cluster_name"]
    (tmp_path / "outputs.json").write_text(json.dumps(outputs))
    fake_tools.env("FAKE_TF_OUTPUTS", str(tmp_path / "outputs.json"))
    with pytest.raises(UserError) as error:
        deploy(load_env("prod", project), yes=True, root=project, clients=clients, console=console())
    assert str(error.value) == (
        "terraform output 'cluster_name' is missing from the state of prod (`terraform output -json` in "
        f"{project / 'cdktf.out' / 'stacks' / 'prod'}): run `invoke deploy prod` to apply the configuration that adds it"
    )


# --- Protected environments --------------------------------------------------------------------------


def test_protected_deploy_refuses_a_dirty_tree(project, fake_tools, clients):
    (project / "environments" / "prod.yaml").write_text((project / "environments" / "prod.yaml").read_text() + "\n# edit\n")
    with pytest.raises(UserError, match=r"prod is protected and the git tree is dirty, changed: environments/prod.yaml \(commit or stash them\)"):
        deploy(load_env("prod", project), yes=True, root=project, clients=clients, console=console())
    assert fake_tools.commands() == []


def test_dirty_tree_refusal_names_untracked_files_and_what_to_do_with_them(project, fake_tools, clients):
    (project / "meetup_nightly.svg").write_text("<svg/>")
    with pytest.raises(UserError) as refused:
        deploy(load_env("prod", project), yes=True, root=project, clients=clients, console=console())
    assert str(refused.value) == (
        "prod is protected and the git tree is dirty, untracked: meetup_nightly.svg "
        "(commit them, delete them, or add them to .gitignore); then deploy from main"
    )


def test_protected_deploy_refuses_an_unpushed_commit_on_the_local_main(project, fake_tools, clients):
    (project / "README.md").write_text("committed on main, never pushed\n")
    git(project, "commit", "-q", "-am", "unpushed")
    with pytest.raises(UserError, match=r"HEAD \([0-9a-f]{12}\) is not contained in origin/main \(fetched just now\): push it and merge it"):
        deploy(load_env("prod", project), yes=True, root=project, clients=clients, console=console())
    assert fake_tools.commands() == []


def test_protected_deploy_fetches_main_before_checking_head(project, fake_tools, clients):
    # Merged on the remote after this clone last fetched: only a fresh fetch knows HEAD is on main.
    stale = git(project, "rev-parse", "origin/main")
    git(project, "checkout", "-q", "-b", "feature")
    (project / "README.md").write_text("merged on the remote\n")
    git(project, "commit", "-q", "-am", "merged")
    git(project, "push", "-q", "origin", "feature:main")
    git(project, "update-ref", "refs/remotes/origin/main", stale)
    con = console()
    assert deploy(load_env("prod", project), yes=True, root=project, clients=clients, console=con) == 0
    assert "is on main at origin (fetched just now)" in output(con)


def test_protected_deploy_without_a_reachable_remote_is_refused_and_a_dry_run_warns(project, fake_tools, clients):
    git(project, "remote", "remove", "origin")
    with pytest.raises(UserError) as refused:
        deploy(load_env("prod", project), yes=True, root=project, clients=clients, console=console())
    assert str(refused.value) == (
        "prod is protected and origin/main could not be fetched (this clone has no remote 'origin'): "
        "deploy from a clone whose remote 'origin' is reachable, so HEAD is checked against the pushed main"
    )
    assert fake_tools.commands() == []
    con = console()
    assert deploy(load_env("prod", project), yes=True, dry_run=True, root=project, console=con) == 0
    assert "warning: this clone has no remote 'origin': HEAD is checked against the local main only" in output(con)


def test_protected_deploy_with_an_unreachable_remote_is_refused(project, fake_tools, clients, tmp_path):
    git(project, "remote", "set-url", "origin", str(tmp_path / "gone.git"))
    with pytest.raises(UserError, match=r"origin/main could not be fetched \(`git fetch origin main` failed: .*\): deploy from a clone"):
        deploy(load_env("prod", project), yes=True, root=project, clients=clients, console=console())


def test_protected_deploy_refuses_a_head_not_on_main(project, fake_tools, clients):
    git(project, "checkout", "-q", "-b", "feature")
    (project / "README.md").write_text("changed on a branch\n")
    git(project, "commit", "-q", "-am", "unmerged")
    with pytest.raises(UserError, match="HEAD .* is not contained in origin/main"):
        deploy(load_env("prod", project), yes=True, dry_run=True, root=project, console=console())
    assert fake_tools.commands() == []


def test_protected_deploy_accepts_a_tag_on_main(project, fake_tools):
    git(project, "tag", "v1.0.0")
    git(project, "checkout", "-q", "v1.0.0")
    con = console()
    assert deploy(load_env("prod", project), yes=True, dry_run=True, root=project, console=con) == 0
    assert "is on main at origin" in output(con)


def test_protected_deploy_without_yes_and_without_terminal_fails_at_once(project, fake_tools, clients, monkeypatch):
    no_tty(monkeypatch)
    with pytest.raises(UserError, match="needs a confirmation and there is no terminal .*pass --yes"):
        deploy(load_env("prod", project), root=project, clients=clients, console=console())
    assert fake_tools.commands() == [], "fails before any synthesis or terraform"


def test_protected_deploy_needs_the_typed_environment_name(project, fake_tools, clients, monkeypatch):
    monkeypatch.setattr("infra.deploy.interactive", lambda: True)
    monkeypatch.setattr("builtins.input", lambda *_: "prd")
    with pytest.raises(UserError, match="confirmation did not match"):
        deploy(load_env("prod", project), root=project, clients=clients, console=console())
    assert "apply" not in [c["argv"][0] for c in fake_tools.commands()]

    monkeypatch.setattr("builtins.input", lambda *_: "prod")
    assert deploy(load_env("prod", project), root=project, clients=clients, console=console()) == 0
    assert "apply" in [c["argv"][0] for c in fake_tools.commands()]


def test_reviewed_plan_file_is_applied_as_is(project, fake_tools, clients):
    from infra.plan import online_plan

    env = load_env("prod", project)
    _report, plan_file, _code = online_plan(env, console(), root=project)
    fake_tools.log.unlink()
    deploy(env, yes=True, plan_file=str(plan_file), root=project, clients=clients, console=console())
    tf = [c["argv"] for c in fake_tools.commands("terraform")]
    assert [a[0] for a in tf] == ["init", "show", "apply", "output"], "no new plan is made"
    assert tf[2][-1] == str(plan_file)


def test_stale_plan_file_is_refused_when_the_configuration_changed(project, fake_tools, clients):
    from infra.plan import online_plan

    env = load_env("prod", project)
    _report, plan_file, _code = online_plan(env, console(), root=project)
    changed = env.model_copy(update={"database": env.database.model_copy(update={"tier": "db-custom-8-30720"})})
    fake_tools.log.unlink()
    with pytest.raises(UserError, match="is stale: the configuration changed since it was made"):
        deploy(changed, yes=True, plan_file=str(plan_file), root=project, clients=clients, console=console())
    assert "apply" not in [c["argv"][0] for c in fake_tools.commands()]


def test_stale_plan_file_is_refused_when_the_state_changed(project, fake_tools, clients):
    from infra.plan import online_plan

    env = load_env("prod", project)
    _report, plan_file, _code = online_plan(env, console(), root=project)
    fake_tools.env("FAKE_TF_STALE", "1")
    con = console()
    with pytest.raises(UserError, match="is stale: the state changed since it was made"):
        deploy(env, yes=True, plan_file=str(plan_file), root=project, clients=clients, console=con)
    assert "Saved plan is stale" in output(con)


# --- Destroy -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dry_run", [False, True])
def test_destroy_of_a_protected_environment_needs_force_and_says_how_to_lift_protection(project, fake_tools, dry_run):
    with pytest.raises(UserError) as refused:
        destroy(load_env("prod", project), yes=True, dry_run=dry_run, root=project, console=console())
    message = str(refused.value)
    assert "prod is protected: destroying it needs --force" in message
    assert "gke.deletion_protection: false and database.deletion_protection: false" in message
    assert fake_tools.commands() == []


def test_forced_destroy_still_refuses_while_deletion_protection_is_on(project, fake_tools):
    with pytest.raises(UserError, match="cannot destroy prod: deletion protection is on"):
        destroy(load_env("prod", project), yes=True, force=True, root=project, console=console())
    assert fake_tools.commands() == []


def test_destroy_plans_a_destroy_and_applies_that_plan(project, fake_tools, clients):
    con = console()
    assert destroy(load_env("dev", project), yes=True, root=project, clients=clients, console=con) == 0
    tf = [c["argv"] for c in fake_tools.commands("terraform")]
    assert [a[0] for a in tf] == ["init", "plan", "show", "output", "apply"]
    assert "-destroy" in tf[1]
    plan_out = next(a for a in tf[1] if a.startswith("-out=")).split("=", 1)[1]
    assert tf[4][-1] == plan_out


def test_destroy_empties_the_cluster_side_before_terraform_deletes_the_cluster(project, fake_tools, clients):
    # The Ingress must go while the cluster answers: GKE's controller then releases the load balancer it made.
    env = load_env("dev", project)
    destroy(env, yes=True, root=project, clients=clients, console=console())
    order = [" ".join([c["tool"], *c["argv"][:2]]) if c["argv"][0] == "stack" else f"{c['tool']} {c['argv'][0]}"
             for c in fake_tools.commands()]
    assert order.index("pulumi destroy") < order.index("pulumi stack rm") < order.index("terraform apply"), order
    (call,) = [c for c in fake_tools.commands("pulumi") if c["argv"][0] == "destroy"]
    assert call["kubeconfig"] == str(project / "cdktf.out" / "kube" / "dev.yaml")
    assert call["env"]["PULUMI_BACKEND_URL"] == naming.pulumi_backend_url(env)


def test_destroy_of_an_environment_without_a_pulumi_stack_touches_no_cluster_side(project, fake_tools, clients):
    fake_tools.env("FAKE_PULUMI_STACKS", "[]")
    con = console()
    destroy(load_env("dev", project), yes=True, root=project, clients=clients, console=con)
    assert [c["argv"][:2] for c in fake_tools.commands("pulumi")] == [["stack", "ls"]]
    assert "no pulumi stack dev" in output(con)
    assert fake_tools.commands("terraform")[-1]["argv"][0] == "apply"


def test_destroy_without_terminal_or_yes_fails_at_once(project, fake_tools, monkeypatch):
    no_tty(monkeypatch)
    with pytest.raises(UserError, match="no terminal"):
        destroy(load_env("dev", project), root=project, console=console())
    assert fake_tools.commands() == []


@pytest.mark.integration
def test_dry_run_renders_and_validates_the_cluster_side(project, fake_tools, fake_google):
    from tests.k8s.kit import require_helm_and_chart

    require_helm_and_chart()
    con = console()
    deploy(load_env("prod", project), yes=True, dry_run=True, root=project, console=con)
    text = output(con)
    step = text[text.index("render cluster side"):]
    assert "✓ done" in step.splitlines()[1]
    assert "objects from chart airflow-1.22.0, valid for Kubernetes 1.33, checkov" in step
    assert (project / "build" / "k8s" / "prod" / "deployment-airflow-scheduler.yaml").is_file()
    assert fake_tools.commands() == [], "rendering runs helm, never terraform or pulumi"
