"""Bad input at the command line: one line on stderr, a non-zero exit, never a traceback."""

from __future__ import annotations

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
        f"error: {env_dir / 'broken.yaml'}: protcted: unknown key (did you mean 'protected'?)",
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
