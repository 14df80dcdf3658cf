"""Finding helm and the chart: one clear line when either is missing, never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from infra import helm
from infra.config import ChartPin
from infra.errors import UserError
from tests.k8s.kit import ROOT


def test_a_helm_bin_that_is_not_executable_is_named(monkeypatch, tmp_path):
    monkeypatch.setenv("HELM_BIN", str(tmp_path / "nope"))
    with pytest.raises(UserError, match=r"HELM_BIN=.*/nope is not an executable file"):
        helm.helm_bin()


def test_without_any_helm_the_error_says_how_to_get_one(monkeypatch, tmp_path):
    monkeypatch.delenv("HELM_BIN", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(helm, "CACHE", tmp_path / ".cache")
    with pytest.raises(UserError, match=r"helm not found: run \.ci/install-helm"):
        helm.helm_bin()


def test_a_chart_path_that_does_not_exist_is_named(monkeypatch, tmp_path):
    monkeypatch.setenv("AIRFLOW_CHART_TGZ", str(tmp_path / "airflow.tgz"))
    with pytest.raises(UserError, match=r"AIRFLOW_CHART_TGZ=.*airflow.tgz: no such file"):
        helm.chart_package(ChartPin())


def test_rendering_a_local_environment_is_one_line_and_exit_1():
    done = subprocess.run([sys.executable, "-m", "invoke", "k8s.render", "local"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 1
    assert done.stderr.strip() == "error: environment 'local' has runtime local: it has no cluster side to render"
