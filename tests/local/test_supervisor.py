"""The real supervisor process applies the builder's probe definitions with the kubelet's semantics.

Small stand-in components (a sleeping Python, a loopback HTTP file server) keep these fast; the probes
are built with the builder's own `Probe`/`Exec`/`HttpGet` and written into the spec as `deploy` does.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from infra.airflow_config import API_HEALTH_PATH, Exec, HttpGet, Probe
from infra.local import processes, supervisor
from platform_kit import free_port, wait_for

pytestmark = pytest.mark.integration

SLEEPER = [sys.executable, "-c", "import time; time.sleep(3600)"]


def exists(path: Path) -> Exec:
    """An exec probe that passes while `path` exists."""
    return Exec((sys.executable, "-c", f"import os, sys; ok = os.path.exists({str(path)!r}); print('ok' if ok else 'missing'); sys.exit(not ok)"))


@pytest.fixture
def run_supervisor(tmp_path):
    """Start the real supervisor on `spec`; stopped, with everything it started, at the end."""
    started: list[subprocess.Popen] = []

    def run(components: dict) -> Path:
        spec = {"env": {"PYTHONUNBUFFERED": "1"}, "components": components}
        processes.write_json(supervisor.spec_path(tmp_path), spec)
        log = open(tmp_path / "supervisor.log", "w")
        started.append(subprocess.Popen([sys.executable, "-m", "infra.local.supervisor", str(tmp_path)], stdout=log,
                                        stderr=subprocess.STDOUT, cwd=Path(__file__).resolve().parents[2]))
        return tmp_path

    yield run
    for proc in started:
        proc.terminate()
        proc.wait(timeout=30)
    for name in processes.recorded(tmp_path):
        processes.stop(tmp_path, name, timeout=10)


def state(folder: Path, name: str) -> dict:
    return ((processes.read_json(supervisor.state_path(folder)) or {}).get("components") or {}).get(name) or {}


def test_liveness_waits_for_startup_and_trips_after_its_failure_threshold(run_supervisor, tmp_path):
    started_flag, alive_flag = tmp_path / "started", tmp_path / "alive"
    alive_flag.touch()
    folder = run_supervisor({"scheduler": {
        "command": SLEEPER, "cwd": str(tmp_path), "hash": "h1",
        "startup": Probe(exists(started_flag), 0, 1, 10, 60).to_k8s(),
        "liveness": Probe(exists(alive_flag), 0, 1, 10, 3).to_k8s(),
    }})
    wait_for(lambda: state(folder, "scheduler").get("probes", {}).get("startup", {}).get("failures", 0) >= 2, 60,
             "the startup probe to fail a few times")
    assert not state(folder, "scheduler")["startup_done"]
    assert "at" not in state(folder, "scheduler")["probes"]["liveness"], "liveness must wait for startup"
    assert state(folder, "scheduler")["restarts"] == 0, "a startup probe below its threshold restarts nothing"

    started_flag.touch()
    wait_for(lambda: state(folder, "scheduler").get("probes", {}).get("liveness", {}).get("ok"), 60, "liveness to pass")
    pid = processes.read(folder, "scheduler").pid
    alive_flag.unlink()
    wait_for(lambda: state(folder, "scheduler").get("restarts") == 1, 60, "the liveness probe to restart it")
    assert state(folder, "scheduler")["last_restart"]["reason"] == "liveness probe failed 3x: missing"
    assert processes.read(folder, "scheduler").pid != pid


def test_the_api_server_is_probed_on_the_chart_path(run_supervisor, tmp_path):
    """A loopback file server answers the chart's path while the file exists; 404 restarts it."""
    port = free_port()
    root = tmp_path / "www"
    health = root / API_HEALTH_PATH.lstrip("/")
    health.parent.mkdir(parents=True)
    health.write_text("{}")
    server = [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "--directory", str(root), str(port)]
    probe = Probe(HttpGet(port), 0, 1, 5, 2)
    folder = run_supervisor({"api-server": {"command": server, "cwd": str(tmp_path), "hash": "h1",
                                            "startup": Probe(HttpGet(port), 0, 1, 5, 60).to_k8s(),
                                            "liveness": probe.to_k8s()}})
    wait_for(lambda: state(folder, "api-server").get("probes", {}).get("liveness", {}).get("message") == "HTTP 200", 60,
             "liveness to pass on the chart's path")
    health.unlink()
    wait_for(lambda: state(folder, "api-server").get("restarts") == 1, 60, "a restart after 2 failures")
    assert state(folder, "api-server")["last_restart"]["reason"] == "liveness probe failed 2x: HTTP 404"


def test_a_probe_that_outlives_its_timeout_is_a_failure(run_supervisor, tmp_path):
    hang = Exec((sys.executable, "-c", "import time; time.sleep(60)"))
    folder = run_supervisor({"triggerer": {"command": SLEEPER, "cwd": str(tmp_path), "hash": "h1", "startup": None,
                                           "liveness": Probe(hang, 0, 1, 1, 2).to_k8s()}})
    wait_for(lambda: state(folder, "triggerer").get("restarts") == 1, 60, "the hanging probe to trip")
    assert state(folder, "triggerer")["last_restart"]["reason"] == "liveness probe failed 2x: timed out after 1s"
