"""Helpers for the local runtime's tests: environment files with free ports, a handle on a deployed platform."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import psutil
import yaml

from infra.config import load_environment
from infra.local import postgres, processes, runtime

# --- environments --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_env(folder: Path, airflow: dict | None = None, local: dict | None = None) -> Path:
    """environments-style file `<folder>/env/local.yaml` with free ports and a data folder in tmp."""
    env_dir = folder / "env"
    env_dir.mkdir(parents=True, exist_ok=True)
    path = env_dir / "local.yaml"
    previous = yaml.safe_load(path.read_text()) if path.exists() else {}
    ports = previous.get("local") or {
        "folder": str(folder / "data"),
        "postgres_port": free_port(),
        "api_port": free_port(),
        "scheduler_health_port": free_port(),
        "s3_port": free_port(),
        "gcs_port": free_port(),
    }
    data = {
        "runtime": "local",
        "airflow": {"executor": "LocalExecutor", "parallelism": 8, **(airflow or {})},
        "local": {**ports, **(local or {})},
    }
    path.write_text(yaml.safe_dump(data))
    return path


class Platform:
    """A deployed local platform plus the handles a test needs to poke at it."""

    def __init__(self, env_path: Path):
        self.env_path = env_path
        self.env = load_environment(env_path)
        self.folder = Path(self.env.local.folder)
        self._token: str | None = None

    def reload(self) -> None:
        self.env = load_environment(self.env_path)

    def deploy(self) -> int:
        return runtime.deploy(self.env)

    def destroy(self) -> None:
        runtime.destroy(self.env)

    def record(self, name: str) -> processes.Record | None:
        return processes.read(self.folder, name)

    def pid(self, name: str) -> int | None:
        record = self.record(name)
        return record.pid if processes.alive(record) else None

    def all_pids(self) -> set[int]:
        pids: set[int] = set()
        for name in processes.recorded(self.folder):
            record = processes.read(self.folder, name)
            if record:
                pids.update(p.pid for p in processes.members(record))
        pg = postgres.server_pid(self.folder)
        if pg:
            pids.add(pg)
            pids.update(c.pid for c in psutil.Process(pg).children(recursive=True))
        return pids

    def state(self) -> dict:
        return processes.read_json(self.folder / "run" / "_state.json") or {}

    def restarts(self, name: str) -> int:
        return self.state().get("components", {}).get(name, {}).get("restarts", 0)

    # --- Airflow through its REST API and its database --------------------------------------

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.env.local.api_port}"

    def token(self) -> str:
        if self._token is None:
            password = json.loads((self.folder / "airflow" / "passwords.json").read_text())["admin"]
            body = json.dumps({"username": "admin", "password": password}).encode()
            request = urllib.request.Request(f"{self.api}/auth/token", body, {"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=30) as response:
                self._token = json.loads(response.read())["access_token"]
        return self._token

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": f"Bearer {self.token()}", "Content-Type": "application/json"}
        request = urllib.request.Request(f"{self.api}/api/v2{path}", data, headers, method=method)
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"{}")

    def sql(self, query: str, *args) -> list[tuple]:
        conn = postgres.connect(self.env.local.postgres_port, "airflow")
        try:
            with conn.cursor() as cur:
                cur.execute(query, args)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()

    def runs(self, dag_id: str) -> list[tuple]:
        """(run_id, state, logical_date) of every run of `dag_id`."""
        return self.sql("SELECT run_id, state, logical_date FROM dag_run WHERE dag_id = %s ORDER BY id", dag_id)

    def assert_no_run_lost_or_duplicated(self, dag_ids: list[str], created_before: list[str], timeout: float = 300) -> None:
        """Every run in `created_before` reaches a terminal state; no DAG has two runs for one logical date."""
        wait_for(
            lambda: all(state in ("success", "failed") for run_id, state, _ in self.runs_by_id(created_before)),
            timeout, f"runs {created_before} to finish",
        )
        assert len(self.runs_by_id(created_before)) == len(created_before), "a run disappeared"
        for dag_id in dag_ids:
            dates = [d for _, _, d in self.runs(dag_id) if d is not None]
            assert len(dates) == len(set(dates)), f"{dag_id} has two runs for one logical date: {sorted(dates)}"

    def runs_by_id(self, run_ids: list[str]) -> list[tuple]:
        if not run_ids:
            return []
        return self.sql("SELECT run_id, state, logical_date FROM dag_run WHERE run_id = ANY(%s)", list(run_ids))


def wait_for(condition, timeout: float, what: str, interval: float = 1.0):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def assert_gone(pids: set[int]) -> None:
    left = []
    for pid in pids:
        try:
            process = psutil.Process(pid)
            if process.status() != psutil.STATUS_ZOMBIE:
                left.append(f"{pid} {' '.join(process.cmdline())[:80]}")
        except psutil.NoSuchProcess:
            pass
    assert not left, f"processes left behind: {left}"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True,
        env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
             "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"},
    ).stdout.strip()
