"""The package environment files and pipeline files share: the same mistake reads the same in both."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from infra.config import load_environment
from infra.errors import ConfigError
from platform_dags.factory import PipelineError, load_pipeline

ROOT = Path(__file__).resolve().parents[2]
PIPELINE = """\
schedule: "@daily"
owner: data-platform
tables:
  - name: members
    source: {conn_id: src, table: members}
    destination: {conn_id: wh, table: raw.members}
"""
ENVIRONMENT = "runtime: local\n"


def _env_error(tmp_path, text: str) -> str:
    path = tmp_path / "env.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_environment(path)
    return str(info.value).removeprefix(f"{path}")


def _pipeline_error(tmp_path, text: str) -> str:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(PipelineError) as info:
        load_pipeline(path, shown_as="p.yaml")
    return str(info.value)


@pytest.mark.parametrize(
    "env_extra,pipeline_extra,message",
    [
        ("protcted: true\n", "onwer: x\n", "unknown key {key!r} (did you mean {hint!r}?)"),
        ("protected: true\nprotected: false\n", "owner: x\n", "key {dup!r} is given twice (first on line {first})"),
    ],
    ids=["unknown_key", "duplicate_key"],
)
def test_the_same_mistake_gets_the_same_words(tmp_path, env_extra, pipeline_extra, message):
    env = _env_error(tmp_path, ENVIRONMENT + env_extra)
    pipe = _pipeline_error(tmp_path, PIPELINE + pipeline_extra)
    if "did you mean" in message:
        assert env.endswith(message.format(key="protcted", hint="protected"))
        assert pipe.endswith(message.format(key="onwer", hint="owner"))
    else:
        assert env.endswith(message.format(dup="protected", first=2))
        assert pipe.endswith(message.format(dup="owner", first=2))


def test_a_wrong_type_reads_the_same_in_both(tmp_path):
    env = _env_error(tmp_path, "runtime: local\nairflow: {parallelism: lots}\n")
    pipe = _pipeline_error(tmp_path, PIPELINE + "defaults: {retries: lots}\n")
    assert env.endswith("airflow.parallelism: expected an integer, got 'lots'")
    assert pipe.endswith("defaults.retries: expected an integer, got 'lots'")


def test_the_shared_package_imports_neither_airflow_nor_the_toolkit():
    # Airflow's processes import it (no infra/ there); the CLI imports it (no Airflow, no CDK: --list stays fast).
    code = textwrap.dedent(
        """
        import sys
        before = set(sys.modules)  # what site already loaded (namespace packages such as google)
        import platform_schema
        added = {m.split('.')[0] for m in set(sys.modules) - before}
        print(','.join(sorted(added & {'airflow', 'infra', 'stacks', 'cdktn', 'pulumi', 'google'})))
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == ""


def test_the_shared_package_is_packaged():
    pyproject = (ROOT / "pyproject.toml").read_text()
    include = next(line for line in pyproject.splitlines() if line.startswith("include = "))
    assert '"platform_schema*"' in include
