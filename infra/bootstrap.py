"""`invoke bootstrap ENV`: the pools, variables and connections the environment file declares, in Airflow.

Everything goes through Airflow's REST API (`/api/v2/pools`, `/api/v2/variables`, `/api/v2/connections`),
never SQL into Airflow's tables: the API validates, audits (`action_logging`) and keeps working when the
schema changes. The canary's own pool is always among the pools. Secret values (connection passwords,
secret variables) come from Secret Manager at run time, never from YAML; the Secret Manager version used
is written into the object's description, which is how a second run knows nothing changed although the
API never shows a secret back.

Idempotent: each object is read first, then created, updated or left alone, and the run says which. The
caller gives a base URL and a bearer token, so the same code serves the local platform and GKE (through
a port-forward). It then waits until the API server answers and the first canary run exists.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Callable
from urllib.parse import quote

from rich.console import Console

from infra.config import Environment, PoolSpec
from infra.errors import UserError

HTTP_TIMEOUT = 30
CANARY_DAG = "system_canary"
# Reads a Secret Manager secret: (secret id, where in the environment file) -> (value, version name).
SecretReader = Callable[[str, str], tuple[str, str]]

# kind -> (collection path, the body's id field)
KINDS = {"pool": ("pools", "name"), "variable": ("variables", "key"), "connection": ("connections", "connection_id")}


@dataclass(frozen=True)
class Wanted:
    """One object as the environment declares it: what to send, and what must match what Airflow has."""

    kind: str
    key: str
    body: dict
    compared: dict


class AirflowApi:
    """Airflow's REST API at `base_url` with a bearer token; failures are one line naming the call."""

    def __init__(self, base_url: str, token: str | None = None):
        self.base_url = base_url.rstrip("/")
        self.token = token

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict | None]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.base_url}{path}", data, method=method, headers={
            "Accept": "application/json", "Content-Type": "application/json",
        })
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:  # noqa: S310 - operator-given URL
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            return exc.code, _json_or_none(exc.read())
        except (urllib.error.URLError, OSError) as exc:
            raise UserError(f"Airflow API at {self.base_url} is unreachable: {getattr(exc, 'reason', exc)}") from None

    def checked(self, method: str, path: str, body: dict | None = None, *, allow_404: bool = False) -> dict | None:
        status, answer = self.call(method, path, body)
        if status == 404 and allow_404:
            return None
        if status in (401, 403):
            raise UserError(f"{method} {path}: HTTP {status}: the token may not do this")
        if status >= 300:
            detail = (answer or {}).get("detail") if isinstance(answer, dict) else answer
            raise UserError(f"{method} {path}: HTTP {status}: {str(detail)[:300]}")
        return answer


def _json_or_none(raw: bytes):
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return raw.decode(errors="replace")


def password_token(base_url: str, username: str, password: str) -> str:
    """A token from `/auth/token` (the simple auth manager's login: the local platform)."""
    api = AirflowApi(base_url)
    answer = api.checked("POST", "/auth/token", {"username": username, "password": password})
    return answer["access_token"]


# --- What the environment wants ----------------------------------------------------------------------


def canary_pool(env: Environment) -> PoolSpec:
    """The canary's own pool, named by the `[platform] canary_pool` setting the DAG side reads."""
    from infra.airflow_config import build

    name = build(env).config["platform", "canary_pool"]
    return PoolSpec(name=name, slots=1, description=f"{CANARY_DAG}: one slot the scheduler canary never waits for")


def _from_secret(description: str, version: str) -> str:
    # The version, not the value: it tells the next run whether the secret changed, and is no secret itself.
    return f"{description} (from Secret Manager {version})".strip()


def pools(env: Environment) -> list[PoolSpec]:
    """The pools to create: the canary's first, then the declared ones (never the canary's twice)."""
    canary = canary_pool(env)
    return [canary, *(p for p in env.bootstrap.pools if p.name != canary.name)]


def wanted(env: Environment, read_secret: SecretReader) -> list[Wanted]:
    """Every object the environment declares, the canary pool first; secrets read through `read_secret`."""
    b = env.bootstrap
    items = []
    for pool in pools(env):
        body = {"name": pool.name, "slots": pool.slots, "description": pool.description, "include_deferred": pool.include_deferred}
        items.append(Wanted("pool", pool.name, body, body))
    for i, var in enumerate(b.variables):
        if var.secret:
            value, version = read_secret(var.secret, f"bootstrap.variables[{i}].secret")
            body = {"key": var.key, "value": value, "description": _from_secret(var.description, version)}
            compared = {"description": body["description"]}  # the API masks values under secret-looking keys
        else:
            body = {"key": var.key, "value": var.value, "description": var.description}
            compared = {"value": var.value, "description": var.description}
        items.append(Wanted("variable", var.key, body, compared))
    for i, conn in enumerate(b.connections):
        body = {
            "connection_id": conn.conn_id, "conn_type": conn.conn_type, "host": conn.host, "port": conn.port,
            "schema": conn.schema_, "login": conn.login, "extra": json.dumps(conn.extra, sort_keys=True) if conn.extra else None,
            "password": None, "description": conn.description,
        }
        if conn.password_secret:
            body["password"], version = read_secret(conn.password_secret, f"bootstrap.connections[{i}].password_secret")
            body["description"] = _from_secret(conn.description, version)
        compared = {k: v for k, v in body.items() if k not in ("connection_id", "password", "extra")}
        compared["extra"] = conn.extra
        compared["has_password"] = conn.password_secret is not None
        items.append(Wanted("connection", conn.conn_id, body, compared))
    return items


def _current(kind: str, answer: dict) -> dict:
    """Airflow's answer in the shape of `Wanted.compared` (empty strings and nulls are the same)."""
    view = dict(answer)
    if kind == "connection":
        view["extra"] = json.loads(answer["extra"]) if answer.get("extra") else {}
        view["has_password"] = bool(answer.get("password"))
    return {k: ("" if v is None and k == "description" else v) for k, v in view.items()}


# --- Applying it ------------------------------------------------------------------------------------------


def sync(api: AirflowApi, items: list[Wanted], *, dry_run: bool = False) -> list[tuple[Wanted, str]]:
    """Create what is missing, update what differs, leave the rest; (item, 'created'|'updated'|'unchanged')."""
    results = []
    for item in items:
        collection, _ = KINDS[item.kind]
        path = f"/api/v2/{collection}/{quote(item.key, safe='')}"
        answer = api.checked("GET", path, allow_404=True)
        if answer is None:
            action = "created"
            if not dry_run:
                api.checked("POST", f"/api/v2/{collection}", item.body)
        else:
            current = _current(item.kind, answer)
            if all(current.get(k) == v for k, v in item.compared.items()):
                action = "unchanged"
            else:
                action = "updated"
                if not dry_run:
                    body = {k: v for k, v in item.body.items() if not (item.kind == "pool" and k == "name")}
                    api.checked("PATCH", path, body)
        results.append((item, action))
    return results


def wait_until(check: Callable[[], bool], timeout: float, what: str, *, console: Console, interval: float = 2.0) -> None:
    deadline, said = time.monotonic() + timeout, False
    while not check():
        if not said:
            console.print(f"  waiting for {what} (up to {timeout / 60:.0f} min)", highlight=False)
            said = True
        if time.monotonic() > deadline:
            raise UserError(f"gave up after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def api_answers(api: AirflowApi) -> bool:
    try:
        status, _ = api.call("GET", "/api/v2/monitor/health")
    except UserError:
        return False
    return status == 200


def first_canary_run(api: AirflowApi) -> bool:
    answer = api.checked("GET", f"/api/v2/dags/{CANARY_DAG}/dagRuns?limit=1", allow_404=True)
    return bool(answer and answer.get("total_entries"))


def _sync_and_wait(
    env: Environment, api: AirflowApi, read_secret: SecretReader, console: Console, *, wait_for_canary: bool, dry_run: bool
) -> str:
    """Sync the declared objects, print what changed, then wait for the first canary run; the summary line."""
    timeout = env.bootstrap.ready_timeout_minutes * 60
    items = wanted(env, read_secret)
    results = sync(api, items, dry_run=dry_run)
    changed = [(item, action) for item, action in results if action != "unchanged"]
    verb = {"created": "would create", "updated": "would update"} if dry_run else {"created": "created", "updated": "updated"}
    for item, action in changed:
        console.print(f"  {verb[action]} {item.kind} {item.key}", highlight=False)
    if changed:
        summary = f"{len(changed)} of {len(results)} objects {'to change' if dry_run else 'changed'}"
    else:
        summary = f"nothing changed ({len(results)} objects already as declared)"
    console.print(f"{env.name}: {summary}", highlight=False)
    if wait_for_canary and not dry_run:
        wait_until(lambda: first_canary_run(api), timeout, f"the first {CANARY_DAG} run", console=console, interval=5)
        console.print(f"{env.name}: the first {CANARY_DAG} run exists", highlight=False)
        summary += f"; the first {CANARY_DAG} run exists"
    return summary


def bootstrap(
    env: Environment,
    *,
    base_url: str,
    token: str | Callable[[], str] | None,
    read_secret: SecretReader,
    console: Console,
    wait_for_canary: bool = True,
    dry_run: bool = False,
) -> int:
    """Wait for the API, sync the declared objects, then wait for the first canary run; print what changed."""
    timeout = env.bootstrap.ready_timeout_minutes * 60
    api = AirflowApi(base_url)
    wait_until(lambda: api_answers(api), timeout, f"the Airflow API at {base_url} to answer", console=console)
    api.token = token() if callable(token) else token
    _sync_and_wait(env, api, read_secret, console, wait_for_canary=wait_for_canary, dry_run=dry_run)
    return 0


def no_secrets_here(env: Environment) -> SecretReader:
    """The local platform has no Secret Manager: a reference is an error naming its key."""

    def read(secret_id: str, where: str) -> tuple[str, str]:
        raise UserError(f"environments/{env.name}.yaml: {where}: Secret Manager references need runtime gke")

    return read


def secret_manager_reader(env: Environment, api=None) -> SecretReader:
    """Reads the environment's project's secrets through the Secret Manager adapter."""
    from infra.gcp_apis import SecretVersionsApi

    assert env.gcp is not None  # only runtime gke gets here (cli picks the reader by runtime)
    api = api or SecretVersionsApi()

    def read(secret_id: str, where: str) -> tuple[str, str]:
        return api.access_latest(env.gcp.project_id, secret_id)

    return read


# --- GKE: through a port-forward, as a service user whose token is minted in the API server pod ----------

TOKEN_MARGIN_SECONDS = 600  # the token outlives the longest wait of the run by this much


def mint_token(cluster, target, *, seconds: int) -> tuple[str, str]:
    """(token, 'created'|'updated'|'unchanged' for the service user), from infra/fab_token.py run in the pod."""
    from pathlib import Path

    from infra import kube, naming

    code = (Path(__file__).with_name("fab_token.py")).read_text()
    command = ["python", "-c", code, naming.BOOTSTRAP_USER, str(seconds)]
    result = kube.exec_in(cluster, target, naming.API_SERVER_CONTAINER, command, timeout=300)
    lines = dict(line.split(" ", 1) for line in result.stdout.splitlines() if line.startswith(("user ", "token ")))
    if result.code != 0 or "token" not in lines:
        why = (result.stderr.strip().splitlines() or [f"exit code {result.code}"])[-1]
        raise UserError(f"minting the bootstrap token in pod {target.namespace}/{target.pod} failed: {why}")
    return lines["token"], lines.get("user", "unchanged")


def describe_gke(env: Environment) -> list[str]:
    """What the GKE bootstrap does, step by step, read from the environment file alone (the dry run)."""
    from infra import naming

    b = env.bootstrap
    lines = [
        f"port-forward to a Ready pod behind Service {naming.namespace(env)}/{naming.API_SERVER_SERVICE}",
        f"ensure the FAB service user {naming.BOOTSTRAP_USER} (role Admin, random password) and mint its token in the pod",
        f"create or update pools: {', '.join(p.name for p in pools(env))}",
    ]
    if b.variables:
        lines.append(f"create or update variables: {', '.join(v.key for v in b.variables)}")
    if b.connections:
        lines.append(f"create or update connections: {', '.join(c.conn_id for c in b.connections)}")
    secrets_read = [v.secret for v in b.variables if v.secret] + [c.password_secret for c in b.connections if c.password_secret]
    if secrets_read:
        lines.append(f"read from Secret Manager: {', '.join(secrets_read)}")
    lines.append(f"wait for the first {CANARY_DAG} run")
    return lines


def bootstrap_gke(
    env: Environment,
    *,
    kubeconfig,
    console: Console,
    dry_run: bool = False,
    secrets: SecretReader | None = None,
    wait_for_canary: bool = True,
) -> str:
    """The GKE bootstrap through the cluster's API (no Airflow address, no password); its summary line.

    A dry run touches nothing — not the cluster, not Secret Manager — and prints the steps it would take.
    """
    from infra import kube, naming

    if dry_run:
        for line in describe_gke(env):
            console.print(f"  would {line}", highlight=False)
        count = len(pools(env)) + len(env.bootstrap.variables) + len(env.bootstrap.connections)
        objects = "object" if count == 1 else "objects"
        return f"would sync {count} declared {objects} as {naming.BOOTSTRAP_USER} (dry run: nothing read or changed)"
    read_secret = secrets or secret_manager_reader(env)
    seconds = env.bootstrap.ready_timeout_minutes * 60 * 2 + TOKEN_MARGIN_SECONDS  # two waits: API, then canary
    cluster = kube.Cluster(kubeconfig)
    try:
        target = kube.api_server_pod(cluster, env)
        with kube.forwarded(cluster, target) as url:
            api = AirflowApi(url)
            wait_until(lambda: api_answers(api), env.bootstrap.ready_timeout_minutes * 60, f"the Airflow API in pod {target.pod} to answer", console=console)
            api.token, user = mint_token(cluster, target, seconds=seconds)
            if user != "unchanged":
                console.print(f"  {user} service user {naming.BOOTSTRAP_USER}", highlight=False)
            return _sync_and_wait(env, api, read_secret, console, wait_for_canary=wait_for_canary, dry_run=False)
    finally:
        cluster.close()
