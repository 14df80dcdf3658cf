"""Bad input at the command line: one line on stderr, a non-zero exit, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
INVOKE = [sys.executable, "-m", "invoke"]


def run_invoke(*args: str, env_dir: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if env_dir is not None:
        env["PLATFORM_ENVIRONMENTS_DIR"] = str(env_dir)
    return subprocess.run([*INVOKE, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def env_dir(tmp_path):
    (tmp_path / "good.yaml").write_text(
        "runtime: gke\ngcp: {project_id: acme-airflow-test, region: europe-west1, "
        "zones: [europe-west1-b], state_bucket: acme-tfstate}\n"
    )
    (tmp_path / "broken.yaml").write_text("runtime: gke\nprotcted: true\n")
    return tmp_path


def test_synth_all_stops_on_a_bad_file_with_its_one_line_error(env_dir):
    result = run_invoke("synth", "--all", env_dir=env_dir)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"error: {env_dir / 'broken.yaml'}: unknown key 'protcted' (did you mean 'protected'?)",
    ]


def test_unknown_environment_is_one_line():
    result = run_invoke("deploy", "staging", "--dry-run")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "no such environment file (known environments: dev, local, prod, qa)" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_bad_plan_format_is_refused():
    result = run_invoke("plan", "dev", "--format", "yaml")
    assert result.returncode == 1
    assert result.stderr.strip() == "error: --format must be text, markdown or json, got 'yaml'"


def test_list_shows_every_command():
    result = run_invoke("--list")
    assert result.returncode == 0
    for command in ("synth", "policy", "plan", "deploy", "destroy", "status", "bootstrap", "image", "logs", "dags.validate", "dags.graph"):
        assert f"  {command} " in result.stdout or result.stdout.rstrip().endswith(command), command


@pytest.mark.parametrize(
    "args,message",
    [
        (("synth",), "error: name an environment (invoke synth prod) or pass --all"),
        (("synth", "prod", "--all"), "error: give an environment name or --all, not both"),
        (("synth", "local"), "error: environment 'local' has runtime local: it has no GCP infrastructure to synthesize"),
    ],
)
def test_synth_takes_one_environment_or_all(args, message):
    result = run_invoke(*args)
    assert result.returncode == 1
    assert result.stderr.strip() == message


def test_policy_takes_an_optional_environment():
    result = run_invoke("policy", "staging")
    assert result.returncode == 1
    assert "environments/staging.yaml: no such environment file" in result.stderr


# --- GCP deploy path (issue 9 / the GCP items of issue 10) ------------------------------------------


def run_invoke_in(repo: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    """`invoke` inside a copy of the project (its own git repository), with extra environment variables."""
    return subprocess.run(
        [*INVOKE, *args], cwd=repo, env={**os.environ, "PYTHONPATH": str(repo), **env},
        capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL,
    )


def last_line(result: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    assert result.stderr.strip().splitlines()[-1] == errors[0], "the error is the last line"
    return errors[0]


@pytest.fixture
def repo(tmp_path):
    from tests.cli.helpers import copy_project

    return copy_project(tmp_path / "repo")


def test_protected_deploy_from_a_clone_without_a_remote_is_refused_in_one_line(repo):
    result = run_invoke_in(repo, "deploy", "prod", "--yes")
    assert last_line(result) == (
        "error: prod is protected and origin/main could not be fetched (this clone has no remote 'origin'): "
        "deploy from a clone whose remote 'origin' is reachable, so HEAD is checked against the pushed main"
    )


def test_dirty_tree_refusal_names_the_untracked_files_and_what_to_do(repo):
    (repo / "meetup_nightly.svg").write_text("<svg/>")
    (repo / "meetup_nightly.mmd").write_text("graph TD\n")
    result = run_invoke_in(repo, "deploy", "prod", "--dry-run", "--yes")
    assert last_line(result) == (
        "error: prod is protected and the git tree is dirty, untracked: meetup_nightly.mmd, meetup_nightly.svg "
        "(commit them, delete them, or add them to .gitignore); then deploy from main"
    )


def service_account_key(path: Path, token_uri: str) -> Path:
    """A service account key file made for the test (a fresh RSA key), its token endpoint on loopback."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path.write_text(json.dumps({
        "type": "service_account", "project_id": "acme-airflow-test", "private_key_id": "test-only",
        "private_key": pem.decode(), "client_email": "deployer@acme-airflow-test.iam.gserviceaccount.com",
        "client_id": "1", "token_uri": token_uri,
    }))
    return path


def deploy_dev_with(credentials: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "GOOGLE_APPLICATION_CREDENTIALS": str(credentials), "CLOUDSDK_CONFIG": str(tmp_path / "gcloud")}
    return subprocess.run([*INVOKE, "deploy", "dev", "--yes"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


def test_missing_google_credentials_are_one_line(tmp_path):
    result = deploy_dev_with(tmp_path / "no-such-key.json", tmp_path)
    assert last_line(result) == (
        f"error: no usable Google credentials (File {tmp_path / 'no-such-key.json'} was not found): "
        "run `gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS to a service account key file"
    )
    assert "▸ 2/14 synth" not in result.stderr, "fails at once, before synthesis"


def test_expired_google_credentials_are_one_line(tmp_path):
    from tests.loopback import JsonApi

    # What Google's token endpoint answers for a deleted key or revoked grant.
    server = JsonApi(lambda *_: (400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}))
    try:
        result = deploy_dev_with(service_account_key(tmp_path / "key.json", f"{server.url}/token"), tmp_path)
    finally:
        server.close()
    assert server.requests and server.requests[0][1] == "/token", "the refresh reached the token endpoint"
    assert last_line(result) == (
        "error: Google credentials are expired or revoked (invalid_grant: Invalid JWT Signature): "
        "run `gcloud auth application-default login` again (in CI: check the workload identity provider and the service account)"
    )


def test_an_unreachable_google_api_is_one_line(tmp_path):
    from tests.cli.helpers import closed_port

    port = closed_port()
    result = deploy_dev_with(service_account_key(tmp_path / "key.json", f"http://127.0.0.1:{port}/token"), tmp_path)
    assert last_line(result) == (
        f"error: cannot reach Google at 127.0.0.1:{port} ([Errno 111] Connection refused): "
        "check the network, the proxy (HTTPS_PROXY) and the firewall, then run the command again"
    )


@pytest.fixture(scope="module")
def synthesized_repo(tmp_path_factory):
    """A copy of the project with dev synthesized once (later commands hit the synthesis cache)."""
    from tests.cli.helpers import copy_project

    repo = copy_project(tmp_path_factory.mktemp("synthesized") / "repo")
    done = run_invoke_in(repo, "synth", "dev")
    assert done.returncode == 0, done.stderr
    return repo


def fake_terraform_env(tmp_path: Path, **switches: str) -> dict[str, str]:
    from tests.cli.helpers import FIXTURES

    bindir = tmp_path / "bin"
    bindir.mkdir()
    script = bindir / "terraform"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FIXTURES / "fake_terraform.py"}" "$@"\n')
    script.chmod(0o755)
    return {
        "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}", "FAKE_LOG": str(tmp_path / "commands.jsonl"),
        "FAKE_TF_PLAN_JSON": str(FIXTURES / "plan_prod.json"), "FAKE_TF_OUTPUTS": str(FIXTURES / "outputs_prod.json"),
        **switches,
    }


def test_corrupt_plan_metadata_is_one_line_naming_the_file(synthesized_repo, tmp_path):
    plan_file = tmp_path / "dev.tfplan"
    plan_file.write_bytes(b"PK\x03\x04 a saved plan")
    meta = tmp_path / "dev.tfplan.meta.json"
    meta.write_text('{"environment": "dev", "configuration_sha2')  # cut short, e.g. by a full disk
    result = run_invoke_in(synthesized_repo, "deploy", "dev", "--dry-run", "--yes", "--plan-file", str(plan_file))
    assert last_line(result) == (
        f"error: {meta} is not valid JSON (Unterminated string starting at at line 1): make the plan again with `invoke plan dev`"
    )
    assert "▸ 3/14 policy gate" not in result.stderr, "refused right after synthesis"


def test_terraform_printing_nothing_where_json_was_expected_is_one_line(synthesized_repo, tmp_path):
    result = run_invoke_in(synthesized_repo, "plan", "dev", **fake_terraform_env(tmp_path, FAKE_TF_PRINT_NOTHING="show"))
    assert last_line(result) == (
        "error: `terraform show -json` printed nothing where JSON was expected (in cdktf.out/stacks/dev): run it there by hand to see why"
    )


@pytest.mark.parametrize(
    "content",
    [b"runtime: gke\n\0\0\0\x89PNG\r\n", bytes(range(256)) * 8, b"runtime: local\nlabels: {team: caf\xe9}\n"],
    ids=["nul_bytes", "binary_garbage", "not_utf8"],
)
def test_an_environment_file_that_is_not_text_is_one_line(env_dir, content):
    (env_dir / "broken.yaml").write_bytes(content)
    result = run_invoke("synth", "broken", env_dir=env_dir)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {env_dir / 'broken.yaml'}:")
    assert line.endswith("not a text file (binary data or not UTF-8): save it as UTF-8 YAML text")


def test_local_ports_that_collide_are_refused_when_the_file_loads(env_dir):
    (env_dir / "mine.yaml").write_text("runtime: local\nlocal: {postgres_port: 8080, api_port: 8080}\n")
    result = run_invoke("deploy", "mine", "--dry-run", env_dir=env_dir)
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: {env_dir / 'mine.yaml'}: local.api_port: must differ from postgres_port (8080), got 8080"
