"""`invoke deploy|destroy|status|logs local`: the whole platform on this machine.

deploy: preflight (disk, ports, stale records) → PostgreSQL → schema (migrate only when not current)
→ spec for the supervisor (which starts/restarts exactly the components whose config hash changed)
→ bounded wait until every component is healthy → URL, login, health table. Nothing here imports
Airflow: a deploy with nothing changed answers in about a second.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil
from rich.console import Console
from rich.table import Table

from infra.airflow_config import AirflowSettings, build, local_folder
from infra.config import ROOT, Environment, environment_path
from infra.errors import UserError
from infra.local import bootstrap as local_bootstrap
from infra.local import health, postgres, processes, state, supervisor
from platform_schema import shown_path

MIN_FREE_BYTES = 1 << 30
READY_TIMEOUT = 240.0
SUPERVISOR = "supervisor"

# Wide enough for the status table when the output is a pipe or a CI log.
console = Console(highlight=False, width=None if sys.stdout.isatty() else 140)


@contextlib.contextmanager
def step(title: str):
    started = time.monotonic()
    with console.status(f"{title}…"):
        outcome: dict[str, str] = {}
        yield outcome
    note = f" — {outcome['note']}" if outcome.get("note") else ""
    console.print(f"[green]✓[/] {title}{note} [dim]({time.monotonic() - started:.1f}s)[/]")


def _enabled(env: Environment) -> dict[str, bool]:
    return {"triggerer": env.airflow.replicas.triggerer > 0}


def _components(env: Environment) -> tuple[str, ...]:
    return tuple(name for name in health.COMPONENTS if _enabled(env).get(name, True))


# --- preflight -----------------------------------------------------------------------------------


def _ours(folder: Path) -> set[int]:
    pids: set[int] = set()
    for name in processes.recorded(folder):
        record = processes.read(folder, name)
        if record:
            pids.update(p.pid for p in processes.members(record))
    pg = postgres.server_pid(folder)
    if pg:
        pids.add(pg)
        with contextlib.suppress(psutil.Error):
            pids.update(c.pid for c in psutil.Process(pg).children(recursive=True))
    return pids


def _check_ports(env: Environment, folder: Path) -> None:
    ours = _ours(folder)
    wanted = {"local.postgres_port": env.local.postgres_port, "local.api_port": env.local.api_port,
              "local.scheduler_health_port": env.local.scheduler_health_port,
              "local.s3_port": env.local.s3_port, "local.gcs_port": env.local.gcs_port}
    listeners = {}
    with contextlib.suppress(psutil.Error):
        for conn in psutil.net_connections("tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.pid:
                listeners.setdefault(conn.laddr.port, conn.pid)
    for key, port in wanted.items():
        pid = listeners.get(port)
        if pid and pid not in ours:
            try:
                who = f"{psutil.Process(pid).name()} (pid {pid})"
            except psutil.Error:
                who = f"pid {pid}"
            raise UserError(f"port {port} ({key} in environments/{env.name}.yaml) is in use by {who}: stop it or choose another port")


def _preflight(env: Environment, folder: Path) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(folder).free
    if free < MIN_FREE_BYTES:
        raise UserError(f"only {free >> 20} MiB free in {folder}: the local platform needs at least 1 GiB (free some space)")
    repaired = []
    for name in processes.recorded(folder):
        record = processes.read(folder, name)
        if record is None or (not processes.alive(record) and not processes.members(record)):
            processes.remove(folder, name)
            repaired.append(name)
    _check_ports(env, folder)
    return f"removed stale pid files: {', '.join(repaired)}" if repaired else ""


# --- steps ---------------------------------------------------------------------------------------


def _airflow(settings_env: dict[str, str], args: list[str], log: Path, timeout: float) -> None:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.run(
            [str(Path(sys.executable).parent / "airflow"), *args], env={**state.base_environ(), **settings_env},
            stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, timeout=timeout, check=False,
        )
    if proc.returncode:
        tail = " | ".join(processes.tail(log, 3))
        raise UserError(f"`airflow {' '.join(args)}` failed (log: {log}): {tail}")


def _schema(env: Environment, folder: Path, settings_env: dict[str, str]) -> str:
    marker = processes.run_dir(folder) / "_schema.json"
    recorded = processes.read_json(marker) or {}
    version = importlib.metadata.version("apache-airflow")
    current = postgres.schema_revision(env.local.postgres_port)
    if current and recorded.get("revision") == current and recorded.get("airflow") == version:
        return "current, migration skipped"
    _airflow(settings_env, ["db", "migrate"], folder / "logs" / "migrate.log", timeout=600)
    revision = postgres.schema_revision(env.local.postgres_port)
    processes.write_json(marker, {"airflow": version, "revision": revision, "bootstrapped": recorded.get("bootstrapped", False)})
    return f"migrated to {revision}"


def _bootstrap(folder: Path, settings_env: dict[str, str]) -> subprocess.Popen | None:
    """Pools and sample data, once per database, in the background while components start."""
    marker = processes.run_dir(folder) / "_schema.json"
    if (processes.read_json(marker) or {}).get("bootstrapped"):
        return None
    log = folder / "logs" / "bootstrap.log"
    out = open(log, "ab")
    return subprocess.Popen(
        [sys.executable, "-m", "infra.local.bootstrap", str(marker)], env={**state.base_environ(), **settings_env},
        stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True,
    )


def _ensure_supervisor(folder: Path, settings_env: dict[str, str]) -> str:
    record = processes.read(folder, SUPERVISOR)
    if processes.alive(record):
        return f"supervisor pid {record.pid}"
    record = processes.start(folder, SUPERVISOR, [sys.executable, "-m", "infra.local.supervisor", str(folder)], state.base_environ(), cwd=ROOT)
    return f"supervisor started, pid {record.pid}"


def _failing_tail(folder: Path, rows: list[health.Health]) -> str:
    bad = next((r for r in rows if not r.healthy), None)
    if bad is None:
        return ""
    log = postgres.log_file(folder) if bad.name == "postgres" else processes.log_path(folder, bad.name)
    lines = "\n".join(f"    {line}" for line in processes.tail(log, 15))
    return f"{bad.name} is not healthy ({bad.detail}); last lines of {log}:\n{lines}"


def _wait_ready(env: Environment, folder: Path, settings: AirflowSettings, spec: dict, timeout: float) -> list[health.Health]:
    deadline = time.monotonic() + timeout
    while True:
        records = {n: processes.read(folder, n) for n in spec["components"]}
        current = all(processes.alive(r) and r.config_hash == spec["components"][n]["hash"] for n, r in records.items())
        rows = health.check(settings, folder, env.local.postgres_port, _components(env)) if current else []
        if current and all(r.healthy for r in rows):
            return rows
        if not processes.alive(processes.read(folder, SUPERVISOR)):
            raise UserError(f"the supervisor exited; see {processes.log_path(folder, SUPERVISOR)}")
        if time.monotonic() > deadline:
            rows = rows or health.check(settings, folder, env.local.postgres_port, _components(env))
            raise UserError(f"not healthy after {timeout:.0f}s: {_failing_tail(folder, rows)}")
        time.sleep(0.5)


# --- commands ------------------------------------------------------------------------------------


def deploy(env: Environment, dry_run: bool = False, ready_timeout: float = READY_TIMEOUT) -> int:
    folder = local_folder(env)
    settings = build(env)
    started = time.monotonic()
    if dry_run:
        console.print(f"would run PostgreSQL on 127.0.0.1:{env.local.postgres_port} with data in {postgres.data_dir(folder)}")
        console.print("would run `airflow db migrate` when the schema is not current")
        for component in settings.components:
            console.print(f"would supervise {component.name}: {' '.join(component.command)}")
        return 0
    with step("Preflight: disk, ports, pid files") as out:
        out["note"] = _preflight(env, folder)
    with step("PostgreSQL") as out:
        fresh = postgres.start(folder, env.local.postgres_port)
        postgres.wait_ready(env.local.postgres_port)
        created = postgres.ensure_databases(env.local.postgres_port)
        out["note"] = ("started" if fresh else "already running") + (f", created {', '.join(created)}" if created else "")
    secret_values, new_password = state.load_secrets(folder, settings)
    settings_env = state.process_env(settings, folder, secret_values)
    state.write_airflow_cfg(settings, folder, shown_path(environment_path(env.name)))
    with step("Metadata schema") as out:
        out["note"] = _schema(env, folder, settings_env)
    spec = {**state.build_spec(settings, settings_env, _enabled(env)), "postgres_port": env.local.postgres_port}
    path = supervisor.spec_path(folder)
    previous = processes.read_json(path)
    unchanged = previous == spec and all(
        processes.alive(r) and r.config_hash == c["hash"]
        for r, c in ((processes.read(folder, n), c) for n, c in spec["components"].items())
    )
    with step("Supervisor and components") as out:
        if previous != spec:
            old = (previous or {}).get("components", {})
            changed = [n for n, c in spec["components"].items() if old.get(n, {}).get("hash") != c["hash"]]
            processes.write_json(path, spec, mode=0o600)
            out["note"] = f"restarting {', '.join(changed)}" if changed and old else "starting all components"
        else:
            out["note"] = "configuration unchanged"
        out["note"] += "; " + _ensure_supervisor(folder, settings_env)
    bootstrap = _bootstrap(folder, settings_env)
    with step("Waiting until every component is healthy"):
        rows = _wait_ready(env, folder, settings, spec, ready_timeout)
    with step("Pools, variables and connections (REST API)"):
        local_bootstrap.sync_objects(env, secret_values["admin-password"], console)
    if bootstrap is not None:
        with step("Sample data"):
            if bootstrap.wait(timeout=300):
                raise UserError(f"loading sample data failed; see {folder / 'logs' / 'bootstrap.log'}")
    _print_health(rows)
    login = f"admin / {secret_values[state.ADMIN_PASSWORD]}" if new_password else f"admin (password in {state.passwords_file(folder)})"
    console.print(f"\nAirflow: http://127.0.0.1:{env.local.api_port}   login: {login}")
    total = time.monotonic() - started
    console.print("Nothing changed: the platform was already running and healthy." if unchanged else f"Ready in {total:.1f}s.")
    return 0


def _print_health(rows: list[health.Health]) -> None:
    table = Table(show_header=True, header_style="bold")
    for column in ("component", "health", "detail"):
        table.add_column(column)
    for row in rows:
        table.add_row(row.name, "[green]healthy[/]" if row.healthy else "[red]unhealthy[/]", row.detail)
    console.print(table)


def destroy(env: Environment, purge: bool = False, dry_run: bool = False) -> int:
    folder = local_folder(env)
    names = processes.recorded(folder)
    if dry_run:
        console.print(f"would stop: {', '.join(names + ['postgres']) or 'nothing'}" + (f"; would delete {folder}" if purge else ""))
        return 0
    # The supervisor first, or it would restart what we stop.
    if SUPERVISOR in names:
        # Only its own group: the components it started are their own sessions, stopped below.
        processes.stop(folder, SUPERVISOR, timeout=10, descendants=False)
    stopped = processes.stop_all(folder, [n for n in names if n != SUPERVISOR], timeout=20)
    if postgres.stop(folder):
        stopped.append("postgres")
    console.print(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")
    if purge and folder.exists():
        shutil.rmtree(folder)
        console.print(f"deleted {folder}")
    return 0


def status(env: Environment) -> int:
    folder = local_folder(env)
    if not processes.recorded(folder) and not postgres.server_pid(folder):
        console.print(f"the local platform is not running: start it with `invoke deploy {env.name}`")
        return 1
    settings = build(env)
    rows = {r.name: r for r in health.check(settings, folder, env.local.postgres_port, _components(env))}
    sup_state = processes.read_json(supervisor.state_path(folder)) or {}
    sup_record = processes.read(folder, SUPERVISOR)
    table = Table(show_header=True, header_style="bold")
    for column in ("component", "health", "pid", "up", "last probe", "restarts", "detail"):
        table.add_column(column)
    pg_pid = postgres.server_pid(folder)
    pg = rows.pop("postgres")
    pg_restarts = str((sup_state.get("postgres") or {}).get("restarts", 0))
    table.add_row("postgres", _mark(pg.healthy), str(pg_pid or "-"), "-", "-", pg_restarts, pg.detail)
    for name, row in rows.items():
        record = processes.read(folder, name)
        comp = sup_state.get("components", {}).get(name, {})
        probes = comp.get("probes", {})
        last = max(probes.items(), key=lambda kv: kv[1].get("at") or 0, default=(None, {}))
        probe_text = f"{last[0]} {'ok' if last[1].get('ok') else 'FAIL'} {health.ago(time.time() - last[1]['at'])} ago" if last[1].get("at") else "-"
        table.add_row(name, _mark(row.healthy), str(record.pid) if processes.alive(record) else "-", health.uptime(record),
                      probe_text, str(comp.get("restarts", 0)), row.detail)
    sup_ok = processes.alive(sup_record)
    table.add_row(SUPERVISOR, _mark(sup_ok), str(sup_record.pid) if sup_ok else "-", health.uptime(sup_record), "-", "-",
                  "applies the probes" if sup_ok else "not running: nothing restarts failed components")
    console.print(table)
    age = health.canary_age_seconds(env.local.postgres_port)
    max_age = env.airflow.canary.max_age_minutes * 60
    canary_ok = age is not None and age <= max_age
    console.print(f"canary: newest system_canary run {health.ago(age)} ago (max {env.airflow.canary.max_age_minutes}m)"
                  if age is not None else "canary: no system_canary run yet")
    healthy = pg.healthy and sup_ok and all(r.healthy for r in rows.values())
    if age is not None and not canary_ok:
        healthy = False
    return 0 if healthy else 1


def _mark(ok: bool) -> str:
    return "[green]healthy[/]" if ok else "[red]unhealthy[/]"


LOG_NAMES = ("api-server", "scheduler", "dag-processor", "triggerer", "s3", "gcs", "postgres", "supervisor", "migrate", "bootstrap")


def logs(env: Environment, component: str | None = None, follow: bool = False) -> int:
    folder = local_folder(env)
    if component is not None and component not in LOG_NAMES:
        raise UserError(f"unknown component {component!r}: choose one of {', '.join(LOG_NAMES)}")
    names = [component] if component else [n for n in LOG_NAMES if (folder / "logs" / f"{n}.log").exists()]
    paths = [folder / "logs" / f"{n}.log" for n in names]
    if component and not paths[0].exists():
        raise UserError(f"no log for {component} yet in {paths[0].parent} (run `invoke deploy {env.name}`)")
    for name, path in zip(names, paths):
        prefix = f"{name} | " if len(paths) > 1 else ""
        for line in processes.tail(path, 50 if len(paths) > 1 else 200):
            print(prefix + line)
    if not follow:
        return 0
    handles = [(n, open(p, errors="replace")) for n, p in zip(names, paths) if p.exists()]
    for _, handle in handles:
        handle.seek(0, 2)
    try:
        while True:
            for name, handle in handles:
                for line in handle.readlines():
                    print((f"{name} | " if len(handles) > 1 else "") + line, end="")
            time.sleep(0.5)
    except KeyboardInterrupt:
        return 0
