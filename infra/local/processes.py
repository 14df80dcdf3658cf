"""Background process groups for the local platform: start, find, stop — never leave an orphan.

Each component runs as the leader of its own session (so of its own process group), with stdout and
stderr appended to `<folder>/logs/<name>.log`, and a record in `<folder>/run/<name>.json` holding its
pid, the process's start time (so a recycled pid is never mistaken for ours) and the hash of the
configuration it was started with. Stopping signals the whole group: Airflow's components fork
children (LocalExecutor workers, the health server, task supervisors) that a plain kill of the leader
would orphan, which is also why `airflow standalone` leaves processes behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil


@dataclass
class Record:
    name: str
    pid: int
    create_time: float
    started_at: float
    config_hash: str = ""

    @property
    def pgid(self) -> int:
        return self.pid  # a session leader's group id is its pid


def run_dir(folder: Path) -> Path:
    return folder / "run"


def log_path(folder: Path, name: str) -> Path:
    return folder / "logs" / f"{name}.log"


def _record_path(folder: Path, name: str) -> Path:
    return run_dir(folder) / f"{name}.json"


def write_json(path: Path, data: object, mode: int = 0o644) -> None:
    """Atomic write, so a reader never sees half a file (the supervisor writes while status reads)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=1)
    os.replace(tmp, path)


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def start(folder: Path, name: str, argv: list[str], env: dict[str, str], config_hash: str = "", cwd: Path | None = None) -> Record:
    """Start `argv` as a new session; its output goes to the component's log file."""
    log = log_path(folder, name)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        out.write(f"\n----- {time.strftime('%Y-%m-%d %H:%M:%S')} starting {name}: {' '.join(argv)}\n".encode())
        out.flush()
        proc = subprocess.Popen(
            argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    record = Record(name, proc.pid, psutil.Process(proc.pid).create_time(), time.time(), config_hash)
    write_json(_record_path(folder, name), asdict(record))
    return record


def read(folder: Path, name: str) -> Record | None:
    data = read_json(_record_path(folder, name))
    if not data:
        return None
    try:
        return Record(**data)
    except TypeError:
        return None


def alive(record: Record | None) -> bool:
    """The recorded process still runs (same pid *and* same start time) and is not a zombie."""
    if record is None:
        return False
    try:
        process = psutil.Process(record.pid)
        return abs(process.create_time() - record.create_time) < 1 and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def members(record: Record, descendants: bool = True) -> list[psutil.Process]:
    """Every live process of the record's group (and, with `descendants`, every process descended
    from its leader even in another group), started no earlier than the leader."""
    found: dict[int, psutil.Process] = {}
    for process in psutil.process_iter(["pid", "create_time"]):
        try:
            if os.getpgid(process.pid) == record.pgid and process.info["create_time"] >= record.create_time - 1:
                found[process.pid] = process
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    if descendants and alive(record):
        try:
            for child in psutil.Process(record.pid).children(recursive=True):
                found[child.pid] = child
        except psutil.Error:
            pass
    return list(found.values())


def signal_group(record: Record, sig: int) -> None:
    for process in members(record):
        try:
            process.send_signal(sig)
        except psutil.Error:
            pass


def stop_records(records: list[Record], timeout: float = 20, descendants: bool = True) -> None:
    """SIGTERM every group at once (SIGCONT too, a frozen process cannot exit), then SIGKILL what is left.

    All at once: the wait is the slowest component's, not the sum of every component's.
    """
    procs = [process for record in records for process in members(record, descendants)]
    for sig in (signal.SIGTERM, signal.SIGCONT):
        for process in procs:
            try:
                process.send_signal(sig)
            except psutil.Error:
                pass
    _, left = psutil.wait_procs(procs, timeout=timeout)
    for process in left + [p for record in records for p in members(record, descendants)]:
        try:
            process.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(left, timeout=5)


def stop_record(record: Record, timeout: float = 20, descendants: bool = True) -> None:
    stop_records([record], timeout, descendants)


def stop_all(folder: Path, names: list[str], timeout: float = 20, descendants: bool = True) -> list[str]:
    """Stop components by their records, together; the names of those that were running."""
    records = {name: record for name in names if (record := read(folder, name)) is not None}
    running = [name for name, record in records.items() if members(record, descendants)]
    stop_records(list(records.values()), timeout, descendants)
    for name in records:
        remove(folder, name)
    return running


def stop(folder: Path, name: str, timeout: float = 20, descendants: bool = True) -> bool:
    """Stop a component by its record; True when something was running."""
    return bool(stop_all(folder, [name], timeout, descendants))


def remove(folder: Path, name: str) -> None:
    _record_path(folder, name).unlink(missing_ok=True)


def recorded(folder: Path) -> list[str]:
    return sorted(p.stem for p in run_dir(folder).glob("*.json") if not p.name.startswith((".", "_")))


def tail(path: Path, lines: int = 20) -> list[str]:
    """The last lines of a log file, cheaply, even when it is large."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            data = handle.read().decode(errors="replace")
    except OSError:
        return []
    return data.splitlines()[-lines:]
