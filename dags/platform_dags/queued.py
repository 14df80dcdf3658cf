"""Find task instances stuck in ``queued`` through Airflow's REST API v2, and alert once about them.

Tasks in Airflow 3 must not touch the metadata DB, so ``system_queued_watch`` asks the API server:
``GET /api/v2/dags/~/dagRuns/~/taskInstances?state=queued`` (``~`` = every DAG / run), paged, and keeps
those whose ``queued_when`` is older than ``[platform] queued_warn_minutes``.

Authentication (``[platform]`` keys): ``api_token`` when set; otherwise ``api_username`` +
``api_password`` exchanged for a JWT at ``POST /auth/token`` (SimpleAuthManager and the FAB auth manager
both serve it); otherwise ``GET /auth/token``, which SimpleAuthManager answers in all-admins mode (local).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

PAGE = 100


@dataclass(frozen=True)
class Stuck:
    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    queued_when: datetime

    def line(self, now: datetime) -> str:
        index = f"[{self.map_index}]" if self.map_index >= 0 else ""
        waited = int((now - self.queued_when).total_seconds() // 60)
        return f"{self.dag_id}.{self.task_id}{index} (run {self.run_id}) queued {waited} min"


class ApiClient:
    """The few calls the watch makes, over urllib (no extra dependency inside the worker)."""

    def __init__(self, base_url: str, *, token: str = "", username: str = "", password: str = "", timeout: float = 30) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.token = token or self._login(username, password)

    def _request(self, method: str, path: str, body: dict | None = None, token: str | None = None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 - configured URL
            return json.loads(response.read() or b"null")

    def _login(self, username: str, password: str) -> str:
        if username and password:
            return self._request("POST", "/auth/token", {"username": username, "password": password})["access_token"]
        try:
            return self._request("GET", "/auth/token")["access_token"]
        except urllib.error.HTTPError:
            return ""  # no auth manager token endpoint for us: try the API without one

    def get(self, path: str, **params) -> dict:
        query = urllib.parse.urlencode(params, doseq=True)
        return self._request("GET", f"{path}?{query}" if query else path, token=self.token)


def _parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def stuck_from_page(task_instances: list[dict], older_than: datetime) -> list[Stuck]:
    """The queued task instances of one API page whose queued_when is before ``older_than``."""
    found = []
    for ti in task_instances:
        when = ti.get("queued_when")
        if ti.get("state") != "queued" or not when:
            continue
        queued = _parse_time(when)
        if queued <= older_than:
            found.append(Stuck(ti["dag_id"], ti["dag_run_id"], ti["task_id"], int(ti.get("map_index", -1)), queued))
    return found


def find_stuck(client: ApiClient, warn_minutes: float, now: datetime | None = None) -> list[Stuck]:
    """Every task instance queued for more than ``warn_minutes``, oldest first."""
    now = now or datetime.now(timezone.utc)
    older_than = now - timedelta(minutes=warn_minutes)
    found: list[Stuck] = []
    offset = 0
    while True:
        page = client.get("/api/v2/dags/~/dagRuns/~/taskInstances", state="queued", limit=PAGE, offset=offset)
        items = page.get("task_instances", [])
        found += stuck_from_page(items, older_than)
        offset += len(items)
        if not items or offset >= page.get("total_entries", 0):
            break
    return sorted(found, key=lambda s: s.queued_when)


def alert_text(stuck: list[Stuck], environment: str, warn_minutes: float, now: datetime, limit: int = 30) -> str:
    lines = [s.line(now) for s in stuck[:limit]]
    more = f"\n… and {len(stuck) - limit} more" if len(stuck) > limit else ""
    return (
        f":hourglass: [{environment}] {len(stuck)} task(s) queued longer than {warn_minutes:g} min "
        f"(workers busy or gone?):\n" + "\n".join(lines) + more
    )


def run_watch(previous: list[str] | None = None, now: datetime | None = None) -> list[str]:
    """One watch: find stuck task instances, alert (Slack when the set changed; PagerDuty, same dedup
    key, while any remain), print the list. Returns the stuck keys for the next run to compare."""
    from platform_dags import setting
    from platform_dags.alerts import send_page, send_slack

    now = now or datetime.now(timezone.utc)
    warn = float(setting("queued_warn_minutes"))
    client = ApiClient(
        setting("api_url"),
        token=setting("api_token"),
        username=setting("api_username"),
        password=setting("api_password"),
    )
    stuck = find_stuck(client, warn, now)
    if not stuck:
        print(f"no task instance queued longer than {warn:g} min")
        return []
    environment = setting("environment")
    text = alert_text(stuck, environment, warn, now)
    print(text)
    keys = sorted(f"{s.dag_id}/{s.run_id}/{s.task_id}/{s.map_index}" for s in stuck)
    channel = setting("slack_channel")
    if channel and set(keys) != set(previous or []):
        send_slack(setting("slack_conn_id").format(channel=channel.lstrip("#")), text)
    service = setting("pagerduty_service")
    if service:
        send_page(
            setting("pagerduty_conn_id").format(service=service),
            summary=text.splitlines()[0],
            dedup_key=f"airflow/{environment}/queued-watch",
            details={"stuck": [s.line(now) for s in stuck[:100]], "count": len(stuck)},
            severity="warning",
        )
    return keys
