"""`invoke status ENV`: the health of a GCP environment in one table; non-zero exit when anything is unhealthy.

Rows: the GKE cluster (status, version) and each node pool from the GKE API; each Airflow component
from `/api/v2/monitor/health`; the age of the last `system_canary` run from the REST API (the proof that
the scheduler still *creates* runs). A part that cannot be reached is a row saying so, never a
traceback. Airflow is reached the way the bootstrap reaches it, through the cluster's API: a
port-forward to a Ready API server pod (infra/kube.py) and a short-lived token minted in that pod for the
bootstrap's service user (infra/bootstrap.py `mint_token`, which creates that user if the bootstrap has
not yet). No Airflow address or token needs setting.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from infra.config import ROOT, Environment
from infra.errors import UserError

CANARY_DAG = "system_canary"
HTTP_TIMEOUT = 10


@dataclass(frozen=True)
class Row:
    part: str
    state: str
    detail: str
    healthy: bool


def _get_json(url: str, token: str | None = None) -> dict:
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:  # noqa: S310 - operator-given URL
        return json.loads(response.read().decode())


def _reason(exc: Exception) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return f"unreachable ({exc.reason})"
    return str(exc) or type(exc).__name__


# --- GKE -------------------------------------------------------------------------------------------


def cluster_rows(cluster: dict) -> list[Row]:
    status = cluster.get("status", "STATUS_UNSPECIFIED")
    detail = f"version {cluster.get('currentMasterVersion', '?')}, {cluster.get('location', '?')}"
    if cluster.get("statusMessage"):
        detail += f": {cluster['statusMessage']}"
    rows = [Row(f"GKE cluster {cluster.get('name', '?')}", status, detail, status == "RUNNING")]
    for pool in cluster.get("nodePools", []):
        scaling = pool.get("autoscaling") or {}
        if scaling.get("totalMaxNodeCount"):
            nodes = f"{scaling.get('totalMinNodeCount', 0)}–{scaling['totalMaxNodeCount']} nodes"
        elif scaling.get("enabled"):
            nodes = f"{scaling.get('minNodeCount', 0)}–{scaling.get('maxNodeCount', 0)} nodes per zone"
        else:
            nodes = f"{pool.get('initialNodeCount', '?')} nodes per zone"
        machine = (pool.get("config") or {}).get("machineType", "?")
        pool_status = pool.get("status", "STATUS_UNSPECIFIED")
        rows.append(Row(f"  node pool {pool.get('name')}", pool_status, f"{machine}, {nodes}, version {pool.get('version', '?')}", pool_status == "RUNNING"))
    return rows


# --- Airflow ---------------------------------------------------------------------------------------


def health_rows(base_url: str) -> list[Row]:
    try:
        body = _get_json(f"{base_url.rstrip('/')}/api/v2/monitor/health")
    except Exception as exc:  # noqa: BLE001 - any failure is "unreachable", shown as a row
        return [Row("Airflow API", "unreachable", f"{base_url}: {_reason(exc)}", False)]
    rows = [Row("Airflow API", "reachable", base_url, True)]
    for component in ("metadatabase", "scheduler", "triggerer", "dag_processor"):
        info = body.get(component)
        if info is None:
            continue
        state = info.get("status") or "unknown"
        heartbeat = next((v for k, v in info.items() if k.startswith("latest_") and v), None)
        rows.append(Row(f"  {component.replace('_', ' ')}", state, f"last heartbeat {heartbeat}" if heartbeat else "", state == "healthy"))
    return rows


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def canary_row(base_url: str, token: str | None, max_age_minutes: int, now: datetime | None = None) -> Row:
    url = f"{base_url.rstrip('/')}/api/v2/dags/{CANARY_DAG}/dagRuns?order_by=-run_after&limit=1"
    part = f"canary ({CANARY_DAG})"
    try:
        body = _get_json(url, token)
    except urllib.error.HTTPError as exc:
        hint = ": the API server refused the token" if exc.code in (401, 403) else ""
        return Row(part, "unknown", f"{_reason(exc)}{hint}", False)
    except Exception as exc:  # noqa: BLE001
        return Row(part, "unreachable", _reason(exc), False)
    runs = list(body.get("dag_runs") or [])
    if not runs:
        return Row(part, "no runs", "the scheduler has never created a canary run", False)
    last = runs[0]
    age = ((now or datetime.now(timezone.utc)) - _parse_time(last["run_after"])).total_seconds() / 60
    detail = f"last run {age:.0f} min ago ({last.get('state')}), allowed {max_age_minutes} min"
    if age > max_age_minutes:
        return Row(part, "stale", detail + ": the scheduler is not scheduling", False)
    if last.get("state") == "queued" and age > max_age_minutes / 2:
        return Row(part, "queued", detail + ": scheduled but not running, check the workers", False)
    return Row(part, "fresh", detail, True)


def wait_healthy(base_url: str, *, console: Console, timeout: float = 600, interval: float = 10) -> str:
    """Poll the health endpoint until every component is healthy (deploy's last step)."""
    deadline = time.monotonic() + timeout
    while True:
        rows = health_rows(base_url)
        if all(row.healthy for row in rows):
            return f"healthy at {base_url}"
        if time.monotonic() > deadline:
            bad = ", ".join(f"{r.part.strip()} {r.state}" for r in rows if not r.healthy)
            raise UserError(f"Airflow at {base_url} not healthy after {timeout:.0f} s: {bad}")
        console.print(f"  waiting: {', '.join(r.part.strip() + ' ' + r.state for r in rows if not r.healthy)}", highlight=False)
        time.sleep(interval)


# --- The table -------------------------------------------------------------------------------------


def render(env: Environment, rows: list[Row], console: Console) -> None:
    table = Table(title=f"status of {env.name}", title_justify="left")
    for column in ("part", "state", "detail"):
        table.add_column(column, overflow="fold")
    for row in rows:
        style = "green" if row.healthy else "bold red"
        table.add_row(escape(row.part), f"[{style}]{escape(row.state)}[/]", escape(row.detail))
    console.print(table)


def read_outputs(env: Environment, root: Path, console: Console) -> dict:
    from infra.plan import synthesize
    from infra.runner import TerraformRunner

    stack = synthesize(env, root / "cdktf.out")
    tf = TerraformRunner(console)
    if not (stack.stack_dir / ".terraform").is_dir():
        tf.init(stack.stack_dir)
    return tf.output_json(stack.stack_dir) or {}


TOKEN_SECONDS = 300  # the status's token: long enough for two queries, short enough to be worthless soon


def airflow_rows(env: Environment, base_url: str, token: str | None) -> list[Row]:
    """The health rows and the canary row for the Airflow API at `base_url`."""
    return [*health_rows(base_url), canary_row(base_url, token, env.airflow.canary.max_age_minutes)]


def airflow_through_cluster(env: Environment, kubeconfig: Path) -> list[Row]:
    """`airflow_rows` through a port-forward to a Ready API server pod; a failure is a row."""
    from infra import kube
    from infra.bootstrap import mint_token

    try:
        cluster = kube.Cluster(kubeconfig)
    except UserError as exc:
        return [Row("Airflow API", "unreachable", str(exc), False)]
    try:
        target = kube.api_server_pod(cluster, env)
        with kube.forwarded(cluster, target) as url:
            rows = health_rows(url)
            try:
                token, _ = mint_token(cluster, target, seconds=TOKEN_SECONDS)
            except UserError as exc:
                return [*rows, Row(f"canary ({CANARY_DAG})", "unknown", str(exc), False)]
            return [*rows, canary_row(url, token, env.airflow.canary.max_age_minutes)]
    except UserError as exc:
        return [Row("Airflow API", "unreachable", str(exc), False)]
    finally:
        cluster.close()


def collect(env: Environment, *, outputs: dict, cluster_api, kubeconfig: Path | None, root: Path = ROOT) -> list[Row]:
    """Every row: the cluster and its node pools, then Airflow through the cluster.

    `kubeconfig` None writes one for the cluster just read (its DNS endpoint), as the deploy does.
    """
    rows: list[Row] = []
    if not outputs.get("cluster_name"):
        rows.append(Row("GKE cluster", "unknown", "no terraform outputs: has the environment been deployed?", False))
        return [*rows, Row("Airflow API", "unknown", "no cluster to reach it through", False)]
    from infra import gke

    project, location, name = outputs["project_id"], outputs["cluster_location"], outputs["cluster_name"]
    try:
        cluster = cluster_api.get_cluster(gke.cluster_path(project, location, name))
    except Exception as exc:  # noqa: BLE001 - an unreachable API is a row, not a crash
        from infra.gcp_apis import google_failure

        detail = google_failure(exc) or (str(exc).splitlines() or [type(exc).__name__])[0]
        rows.append(Row(f"GKE cluster {name}", "unreachable", detail, False))
        return [*rows, Row("Airflow API", "unknown", "no cluster to reach it through", False)]
    rows += cluster_rows(cluster)
    if kubeconfig is None:
        try:
            creds = gke.credentials_of(cluster, None, project, location, name)
        except UserError as exc:
            return [*rows, Row("Airflow API", "unknown", str(exc), False)]
        kubeconfig = gke.write_kubeconfig(gke.kubeconfig(creds), gke.kubeconfig_file(root, env.name))
    return rows + airflow_through_cluster(env, kubeconfig)


def status(env: Environment, *, root: Path = ROOT, cluster_api=None, console: Console | None = None, kubeconfig: Path | None = None) -> int:
    console = console or Console()
    try:
        outputs = read_outputs(env, root, Console(stderr=True))
    except UserError as exc:
        outputs = {}
        console.print(f"[yellow]terraform outputs unavailable: {escape(str(exc).splitlines()[0])}[/]", highlight=False)
    if cluster_api is None:
        from infra.gke import GoogleClusterApi

        cluster_api = GoogleClusterApi()
    rows = collect(env, outputs=outputs, cluster_api=cluster_api, kubeconfig=kubeconfig, root=root)
    render(env, rows, console)
    unhealthy = [row for row in rows if not row.healthy]
    return 1 if unhealthy else 0
