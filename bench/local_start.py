"""Local start-up against `airflow standalone`, measured in the same run on this machine.

    python bench/local_start.py

1. baseline: `airflow standalone` (SQLite, fresh AIRFLOW_HOME) until /api/v2/monitor/health reports
   the scheduler, DAG processor and triggerer healthy;
2. cold: `invoke deploy local` on a fresh folder (PostgreSQL initdb, migrations, every component);
3. warm: `invoke destroy local` (data kept), then `invoke deploy local` again (schema current);
4. no-op: `invoke deploy local` with nothing changed;
5. SIGSTOP of the scheduler until scheduling again (a triggered run gets its task queued).
Ratios against the baseline are printed; targets: cold <= 0.75x, warm <= 0.5x, SIGSTOP <= 60 s.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def monitor_healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=2) as response:
            body = json.loads(response.read())
    except Exception:
        return False
    return all((body.get(k) or {}).get("status") == "healthy" for k in ("metadatabase", "scheduler", "triggerer", "dag_processor"))


def standalone(base: Path) -> float:
    home = base / "standalone"
    (home / "dags").mkdir(parents=True)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(AIRFLOW_HOME=str(home), AIRFLOW__API__PORT=str(port), AIRFLOW__CORE__DAGS_FOLDER=str(home / "dags"),
               AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT=str(free_port()), PATH=f"{VENV_BIN}:{env['PATH']}")
    started = time.monotonic()
    with open(base / "standalone.log", "wb") as log:
        proc = subprocess.Popen([str(VENV_BIN / "airflow"), "standalone"], env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, cwd=home)
    try:
        while not monitor_healthy(port):
            if proc.poll() is not None or time.monotonic() - started > 300:
                raise SystemExit(f"airflow standalone did not become healthy; see {base / 'standalone.log'}")
            time.sleep(0.2)
        return time.monotonic() - started
    finally:
        # standalone leaves its children running on SIGTERM: end the whole group.
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def invoke(env_dir: Path, *args: str) -> float:
    env = {**os.environ, "PLATFORM_ENVIRONMENTS_DIR": str(env_dir), "PATH": f"{VENV_BIN}:{os.environ['PATH']}"}
    started = time.monotonic()
    result = subprocess.run([str(VENV_BIN / "invoke"), *args], cwd=ROOT, env=env, capture_output=True, text=True)
    elapsed = time.monotonic() - started
    if result.returncode:
        raise SystemExit(f"invoke {' '.join(args)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return elapsed


def sigstop_to_scheduling(folder: Path, api_port: int) -> float:
    from infra.local import processes

    password = json.loads((folder / "airflow" / "passwords.json").read_text())["admin"]
    request = urllib.request.Request(f"http://127.0.0.1:{api_port}/auth/token",
                                     json.dumps({"username": "admin", "password": password}).encode(), {"Content-Type": "application/json"})
    token = json.loads(urllib.request.urlopen(request, timeout=30).read())["access_token"]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    # Make sure the canary is registered before freezing anything.
    deadline = time.monotonic() + 180
    while True:
        try:
            urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{api_port}/api/v2/dags/system_canary", headers=headers), timeout=10)
            break
        except Exception:
            if time.monotonic() > deadline:
                raise SystemExit("system_canary was never parsed")
            time.sleep(1)
    pid = processes.read(folder, "scheduler").pid
    frozen = time.monotonic()
    os.kill(pid, signal.SIGSTOP)
    body = json.dumps({"logical_date": datetime.now(timezone.utc).isoformat(), "conf": {}}).encode()
    run = json.loads(urllib.request.urlopen(urllib.request.Request(
        f"http://127.0.0.1:{api_port}/api/v2/dags/system_canary/dagRuns", body, headers, method="POST"), timeout=30).read())
    url = f"http://127.0.0.1:{api_port}/api/v2/dags/system_canary/dagRuns/{run['dag_run_id']}/taskInstances"
    while time.monotonic() - frozen < 300:
        try:
            tis = json.loads(urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10).read())["task_instances"]
            if any(ti["state"] in ("queued", "running", "success") for ti in tis):
                return time.monotonic() - frozen
        except Exception:
            pass
        time.sleep(0.5)
    raise SystemExit("the scheduler did not schedule again within 300 s of the SIGSTOP")


def main() -> None:
    base = Path(tempfile.mkdtemp(prefix="bench-local-", dir="/tmp"))
    base.chmod(0o755)
    env_dir = base / "env"
    env_dir.mkdir()
    folder = base / "data"
    api_port = free_port()
    (env_dir / "local.yaml").write_text(
        f"runtime: local\nairflow:\n  executor: LocalExecutor\n  parallelism: 8\nlocal:\n  folder: {folder}\n"
        f"  postgres_port: {free_port()}\n  api_port: {api_port}\n  scheduler_health_port: {free_port()}\n"
    )
    try:
        baseline = standalone(base)
        print(f"airflow standalone cold start (SQLite): {baseline:6.1f} s")
        cold = invoke(env_dir, "deploy", "local")
        print(f"deploy local, cold (initdb + migrate):  {cold:6.1f} s   ratio {cold / baseline:.2f} (target <= 0.75)")
        noop = invoke(env_dir, "deploy", "local")
        print(f"deploy local, nothing changed:          {noop:6.1f} s")
        invoke(env_dir, "destroy", "local")
        warm = invoke(env_dir, "deploy", "local")
        print(f"deploy local, warm (schema current):    {warm:6.1f} s   ratio {warm / baseline:.2f} (target <= 0.5)")
        stop = sigstop_to_scheduling(folder, api_port)
        print(f"SIGSTOP of the scheduler to scheduling: {stop:6.1f} s   (target <= 60)")
    finally:
        try:
            invoke(env_dir, "destroy", "local", "--purge")
        finally:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
