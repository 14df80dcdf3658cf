"""Health of the local platform as a user sees it: one row per component, cheap enough to poll.

The API server's `/api/v2/monitor/health` reports the metadata database and the latest heartbeats of
the scheduler, DAG processor and triggerer in one answer; the scheduler's own health server and the
process records complete the picture. No Airflow import: `deploy` and `status` stay fast.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from infra.airflow_config import AirflowSettings
from infra.local import postgres, processes

COMPONENTS = ("s3", "gcs", "api-server", "scheduler", "dag-processor", "triggerer")
STORAGE = ("s3", "gcs")  # local object storage endpoints, answering GET /


@dataclass
class Health:
    name: str
    healthy: bool
    detail: str


def http_get(url: str, timeout: float = 3) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read(65536).decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, ""
    except Exception as exc:
        return 0, f"{type(exc).__name__}"


def monitor(settings: AirflowSettings) -> dict:
    status, body = http_get(f"http://127.0.0.1:{settings.get('api', 'port')}/api/v2/monitor/health")
    if status != 200:
        return {}
    try:
        return json.loads(body)
    except ValueError:
        return {}


def check(settings: AirflowSettings, folder: Path, port: int, components: tuple[str, ...] = COMPONENTS) -> list[Health]:
    rows = []
    pg_pid = postgres.server_pid(folder)
    try:
        postgres.connect(port, timeout=2).close()
        rows.append(Health("postgres", True, f"127.0.0.1:{port}"))
    except Exception:
        rows.append(Health("postgres", False, "not running" if not pg_pid else "not accepting connections"))
    body = monitor(settings)
    for name in components:
        record = processes.read(folder, name)
        if not processes.alive(record):
            rows.append(Health(name, False, "not running"))
            continue
        if name in STORAGE:
            command = settings.component(name).command
            url = f"http://127.0.0.1:{command[command.index('--port') + 1]}/"
            code, _ = http_get(url, 3)
            rows.append(Health(name, 200 <= code < 400, url if 200 <= code < 400 else f"no answer on {url}"))
        elif name == "api-server":
            ok = bool(body)
            rows.append(Health(name, ok, f"http://127.0.0.1:{settings.get('api', 'port')}" if ok else "no answer on /api/v2/monitor/health"))
        elif name == "scheduler":
            code, _ = http_get(f"http://127.0.0.1:{settings.get('scheduler', 'scheduler_health_check_server_port')}/health", 3)
            rows.append(Health(name, code == 200, "heartbeat fresh" if code == 200 else f"health server: {code or 'no answer'}"))
        else:
            key = name.replace("-", "_")
            status = (body.get(key) or {}).get("status")
            rows.append(Health(name, status == "healthy", f"heartbeat {status}" if status else "unknown (API down)"))
    return rows


def canary_age_seconds(port: int) -> float | None:
    """Seconds since the newest system_canary run was created; None when there is none yet."""
    try:
        conn = postgres.connect(port, "airflow", timeout=2)
    except Exception:
        return None
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT max(coalesce(created_at, run_after)) FROM dag_run WHERE dag_id = 'system_canary'")
            (newest,) = cur.fetchone()
    except Exception:
        return None
    finally:
        conn.close()
    if newest is None:
        return None
    return (datetime.now(timezone.utc) - newest).total_seconds()


def ago(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


def uptime(record: processes.Record | None) -> str:
    return ago(time.time() - record.started_at) if processes.alive(record) else "-"
