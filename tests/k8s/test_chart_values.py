"""The chart values renderer and the builder's GKE settings, without helm."""

from __future__ import annotations

import json

import pytest
import yaml

from infra.airflow_config import FAB_AUTH, GIT_BUNDLE, IMAGE_DAGS_DIR, SIMPLE_AUTH, build
from infra.chart_values import chart_values
from infra.config import load_environment, parse_environment
from infra.errors import ConfigError
from infra.image import content_tag
from tests.k8s.kit import GCP_ENVS, ROOT


def _prod(edit) -> object:
    data = yaml.safe_load((ROOT / "environments" / "prod.yaml").read_text())
    edit(data)
    return parse_environment("prod", data, "environments/prod.yaml")


@pytest.mark.parametrize("name", GCP_ENVS)
def test_gke_signs_in_with_google_and_has_no_fixed_password_nor_user_job(name):
    env = load_environment(name)
    settings = build(env)
    assert settings.get("core", "auth_manager") == FAB_AUTH
    assert [key for section, key in settings.config if key.startswith("simple_auth_manager")] == []
    assert ("platform", "api_password") not in settings.secrets
    values = chart_values(env)
    assert values["createUserJob"]["enabled"] is False
    assert "SimpleAuthManager" not in json.dumps(values)
    assert "admin:" not in json.dumps(values)  # no user:password pair anywhere


def test_local_keeps_the_simple_auth_manager_with_its_generated_password():
    settings = build(load_environment("local"))
    assert settings.get("core", "auth_manager") == SIMPLE_AUTH
    assert settings.get("core", "simple_auth_manager_users") == "admin:admin"  # user:role; the password is generated
    assert "--proxy-headers" not in settings.component("api-server").command  # nothing in front of it


def test_the_image_tag_is_what_invoke_image_pushes_unless_the_environment_pins_one():
    assert chart_values(load_environment("prod"))["images"]["airflow"]["tag"] == content_tag()
    pinned = _prod(lambda d: d["kubernetes"].update(image={"tag": "abc123"}))
    assert chart_values(pinned)["images"]["airflow"]["tag"] == "abc123"


@pytest.mark.parametrize("name", GCP_ENVS)
def test_remote_logging_always_names_its_folder(name):
    settings = build(load_environment(name))
    assert settings.get("logging", "remote_logging") == "True"
    assert settings.get("logging", "remote_base_log_folder").startswith("gs://")


def test_an_ssh_dag_repository_without_a_deploy_key_connection_is_refused_on_one_line():
    with pytest.raises(ConfigError) as caught:
        _prod(lambda d: d["airflow"]["dags"].update(repo_url="git@github.com:acme/airflow-dags.git", git_conn_id=None))
    assert str(caught.value) == (
        "environments/prod.yaml: airflow.dags.git_conn_id: an SSH repo_url needs the connection holding its deploy key"
    )


def test_the_git_bundle_reads_its_key_or_token_through_the_named_connection():
    env = _prod(lambda d: d["airflow"]["dags"].update(repo_url="git@github.com:acme/airflow-dags.git", git_conn_id="dags_git"))
    bundles = {b["name"]: b for b in chart_values(env)["dagProcessor"]["dagBundleConfigList"]}
    assert bundles["dags"]["classpath"] == GIT_BUNDLE
    assert bundles["dags"]["kwargs"]["git_conn_id"] == "dags_git"
    assert bundles["dags"]["kwargs"]["repo_url"] == "git@github.com:acme/airflow-dags.git"
    assert bundles["platform"]["kwargs"]["path"] == IMAGE_DAGS_DIR  # the image's, not this checkout's


def test_resources_and_image_come_from_the_model():
    env = _prod(lambda d: d["kubernetes"].update(image={"repository": "eu.gcr.io/acme/airflow", "tag": "abc123"}))
    values = chart_values(env)
    assert values["images"]["airflow"] == {"repository": "eu.gcr.io/acme/airflow", "tag": "abc123", "pullPolicy": "Always"}
    assert values["scheduler"]["resources"] == {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}}
    assert values["workers"]["resources"]["limits"] == {"cpu": "4", "memory": "8Gi"}


def test_a_bad_resource_quantity_names_the_key():
    with pytest.raises(ConfigError, match=r"kubernetes\.resources\.scheduler\.memory: must match"):
        _prod(lambda d: d["kubernetes"]["resources"]["scheduler"].update(memory="2 GB"))


def test_local_has_no_chart_values():
    with pytest.raises(ValueError, match="only for runtime gke"):
        chart_values(load_environment("local"))


