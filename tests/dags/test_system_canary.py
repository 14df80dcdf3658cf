"""system_canary: the settings that make it a trustworthy signal, and a real run the probe then sees."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from datetime import timedelta

import pytest



def load_canary(monkeypatch, **platform):
    for key, value in platform.items():
        monkeypatch.setenv(f"AIRFLOW__PLATFORM__{key.upper()}", str(value))
    import system_canary

    return importlib.reload(system_canary).dag


def test_the_canary_runs_every_configured_interval_ahead_of_everything(monkeypatch):
    dag = load_canary(monkeypatch, canary_interval_minutes=7)
    assert dag.timetable.delta == timedelta(minutes=7)
    assert dag.catchup is False and dag.max_active_runs == 1
    assert dag.is_paused_upon_creation is False
    assert dag.dagrun_timeout == timedelta(minutes=7)  # a run stuck on dead workers frees the slot
    (task,) = dag.tasks
    assert task.pool == "system_canary"
    assert task.priority_weight == 10_000 and "absolute" in str(task.weight_rule).lower()
    assert task.execution_timeout == timedelta(minutes=1)
    assert task.retries == 0


def test_the_canary_pool_name_comes_from_platform_config(monkeypatch):
    assert load_canary(monkeypatch, canary_pool="canary_only").tasks[0].pool == "canary_only"


@pytest.mark.integration
def test_a_canary_run_makes_the_workers_probe_pass(airflow_db, monkeypatch, tmp_path, run_dag, dags_folder):
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(tmp_path))
    env = {**os.environ, "PYTHONPATH": str(dags_folder), "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": airflow_db}

    def probe(*args):
        result = subprocess.run([sys.executable, "-m", "platform_dags.probe", *args], env=env, capture_output=True, text=True, timeout=120)
        return result.returncode, result.stdout.strip()

    run = run_dag(load_canary(monkeypatch, canary_interval_minutes=5))
    assert str(run.state) == "success"
    code, line = probe("workers", "--max-age-minutes", "15")
    assert code == 0 and line.startswith("workers: OK last canary task succeeded 0.")
