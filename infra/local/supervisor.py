"""The local stand-in for the kubelet: one small daemon that runs the builder's probes and restarts.

    python -m infra.local.supervisor <folder>

It reads `<folder>/run/_spec.json` (written by `deploy`: per component its command, environment,
config hash, and its startup and liveness probes as the container probes the chart renders from the
same `Probe` definitions: exec commands, or GET `/api/v2/monitor/health` for the API server), and
reloads it when it changes. For each component it applies Kubernetes semantics: liveness waits for
the startup probe; every probe waits `initial_delay_seconds` after the start, runs every
`period_seconds`, counts a run longer than `timeout_seconds` as a failure, and trips after
`failure_threshold` failures in a row (successThreshold is 1, as Kubernetes requires for both). A
tripped probe, an exited process or a changed config hash restarts the component (exits back off
like CrashLoopBackOff). Restarts are logged and counted in `<folder>/run/_state.json` for `status`.

The supervisor is the only process that starts Airflow components; each runs in its own session, so
killing the supervisor leaves them running (like a kubelet restart) and `destroy` still finds them by
their records.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from infra.errors import UserError
from infra.local import postgres, processes

TICK = 0.25
# PostgreSQL is not an Airflow component (pg_ctl daemonizes it), but losing it stops everything:
# the supervisor starts it again when its server process is gone.
POSTGRES_CHECK_SECONDS = 5.0
BACKOFF_MAX = 60.0
BACKOFF_RESET_AFTER = 120.0


def spec_path(folder: Path) -> Path:
    return processes.run_dir(folder) / "_spec.json"


def state_path(folder: Path) -> Path:
    return processes.run_dir(folder) / "_state.json"


def run_probe(probe: dict, env: dict[str, str], cwd: str | None) -> tuple[bool, str]:
    """One run of a probe as the kubelet does it: HTTP 200-399 or exit code 0, within the timeout."""
    timeout = probe["timeoutSeconds"]
    if "httpGet" in probe:
        url = f"http://127.0.0.1:{probe['httpGet']['port']}{probe['httpGet']['path']}"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                response.read(4096)
                return 200 <= response.status < 400, f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            return False, f"HTTP {exc.code}"
        except Exception as exc:  # refused, reset, timed out: all mean "not alive" to the kubelet
            return False, f"{type(exc).__name__}: {exc}"[:200]
    command = probe["exec"]["command"]
    proc = subprocess.Popen(
        command, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return False, f"timed out after {timeout}s"
    lines = out.decode(errors="replace").strip().splitlines()
    return proc.returncode == 0, (lines[-1] if lines else f"exit {proc.returncode}")[:200]


@dataclass
class ProbeState:
    spec: dict
    failures: int = 0
    next_at: float = 0.0
    running: Future | None = None
    last: dict = field(default_factory=dict)


@dataclass
class Watched:
    name: str
    spec: dict
    record: processes.Record | None = None
    startup_done: bool = False
    probes: dict[str, ProbeState] = field(default_factory=dict)
    restarts: int = 0
    last_restart: dict | None = None
    backoff: float = 0.0
    not_before: float = 0.0


class Supervisor:
    def __init__(self, folder: Path):
        self.folder = folder
        self.pool = ThreadPoolExecutor(max_workers=8)
        self.watched: dict[str, Watched] = {}
        self.spec_mtime = 0.0
        self.stopping = False
        self.dirty = True
        self.last_write = 0.0
        previous = processes.read_json(state_path(folder)) or {}
        self.previous = previous.get("components", {})
        self.postgres_port: int | None = None
        self.postgres = previous.get("postgres", {"restarts": 0, "last_restart": None})
        self.next_postgres_check = 0.0

    def log(self, message: str) -> None:
        print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}", flush=True)

    # --- spec ---------------------------------------------------------------------------------

    def reload(self) -> None:
        path = spec_path(self.folder)
        try:
            mtime = path.stat().st_mtime
        except OSError:
            return
        if mtime == self.spec_mtime:
            return
        self.spec_mtime = mtime
        spec = processes.read_json(path)
        if not spec:
            return
        self.env = {**os.environ, **spec["env"]}
        self.postgres_port = spec.get("postgres_port")
        for name in [n for n in self.watched if n not in spec["components"]]:
            self.log(f"{name}: removed from the spec, stopping it")
            processes.stop(self.folder, name)
            del self.watched[name]
        for name, component in spec["components"].items():
            watched = self.watched.get(name)
            if watched is None:
                previous = self.previous.get(name, {})
                watched = Watched(name, component, processes.read(self.folder, name))
                watched.restarts = previous.get("restarts", 0)
                watched.last_restart = previous.get("last_restart")
                self.watched[name] = watched
                if not processes.alive(watched.record):
                    self._start(watched, "it was not running")
                elif watched.record.config_hash != component["hash"]:
                    self._restart(watched, "config changed", count=False)
                else:
                    self.log(f"{name}: adopted running pid {watched.record.pid}")
                    self._reset_probes(watched, started=watched.record.started_at)
            elif watched.spec != component:
                changed = watched.spec["hash"] != component["hash"]
                watched.spec = component
                if changed:
                    self._restart(watched, "config changed", count=False)
                else:
                    self._reset_probes(watched, started=watched.record.started_at if watched.record else time.time())
        self.dirty = True

    # --- lifecycle ----------------------------------------------------------------------------

    def _reset_probes(self, watched: Watched, started: float) -> None:
        watched.startup_done = watched.spec.get("startup") is None
        watched.probes = {}
        for key in ("startup", "liveness"):  # one liveness probe per container, as Kubernetes allows
            probe = watched.spec.get(key)
            if probe:
                watched.probes[key] = ProbeState(probe, next_at=started + probe["initialDelaySeconds"])

    def _start(self, watched: Watched, reason: str) -> None:
        env = {**self.env, **watched.spec.get("env", {})}
        watched.record = processes.start(self.folder, watched.name, watched.spec["command"], env, watched.spec["hash"], cwd=watched.spec.get("cwd"))
        self._reset_probes(watched, watched.record.started_at)
        self.log(f"{watched.name}: started pid {watched.record.pid} ({reason})")
        self.dirty = True

    def _restart(self, watched: Watched, reason: str, count: bool = True) -> None:
        self.log(f"{watched.name}: restarting: {reason}")
        if watched.record:
            processes.stop_record(watched.record, timeout=15)
        if count:
            watched.restarts += 1
            watched.last_restart = {"at": time.time(), "reason": reason}
        self._start(watched, reason)

    # --- probing ------------------------------------------------------------------------------

    def _check(self, watched: Watched, now: float) -> None:
        if not processes.alive(watched.record):
            if now < watched.not_before:
                return
            up = now - watched.record.started_at if watched.record else 0
            watched.backoff = 1.0 if up > BACKOFF_RESET_AFTER or not watched.backoff else min(BACKOFF_MAX, watched.backoff * 2)
            watched.not_before = now + watched.backoff
            if watched.record:
                processes.stop_record(watched.record, timeout=5)  # its children, if any are left
            watched.restarts += 1
            watched.last_restart = {"at": now, "reason": "process exited"}
            self.log(f"{watched.name}: process exited, restarting (next back-off {watched.backoff:.0f}s)")
            self._start(watched, "process exited")
            return
        for key, state in watched.probes.items():
            if key != "startup" and not watched.startup_done:
                continue
            if key == "startup" and watched.startup_done:
                continue
            if state.running is not None:
                if not state.running.done():
                    continue
                ok, message = state.running.result()
                state.running = None
                state.last = {"ok": ok, "at": now, "message": message}
                self.dirty = True
                if ok:
                    state.failures = 0
                    if key == "startup":
                        watched.startup_done = True
                        started = watched.record.started_at
                        for other_key, other in watched.probes.items():
                            if other_key != "startup":
                                other.next_at = max(now, started + other.spec["initialDelaySeconds"])
                    continue
                state.failures += 1
                if key == "startup" and state.failures < state.spec["failureThreshold"]:
                    continue  # a starting component is expected to refuse connections for a while
                self.log(f"{watched.name}: {key} probe failed ({state.failures}/{state.spec['failureThreshold']}): {message}")
                if state.failures >= state.spec["failureThreshold"]:
                    self._restart(watched, f"{key} probe failed {state.failures}x: {message}")
                    return
                continue
            if now >= state.next_at:
                state.next_at = now + state.spec["periodSeconds"]
                state.running = self.pool.submit(run_probe, state.spec, {**self.env, **watched.spec.get("env", {})}, watched.spec.get("cwd"))

    def _check_postgres(self, now: float) -> None:
        if not self.postgres_port or now < self.next_postgres_check:
            return
        self.next_postgres_check = now + POSTGRES_CHECK_SECONDS
        if postgres.server_pid(self.folder):
            return
        self.log("postgres: server process gone, starting it")
        try:
            postgres.start(self.folder, self.postgres_port)
        except UserError as exc:
            self.log(f"postgres: start failed: {exc}")
            return
        self.postgres = {"restarts": self.postgres["restarts"] + 1, "last_restart": {"at": now, "reason": "server process gone"}}
        self.dirty = True

    def write_state(self, now: float) -> None:
        if not self.dirty and now - self.last_write < 5:
            return
        components = {}
        for name, w in self.watched.items():
            components[name] = {
                "pid": w.record.pid if w.record else None,
                "started_at": w.record.started_at if w.record else None,
                "hash": w.record.config_hash if w.record else None,
                "startup_done": w.startup_done,
                "restarts": w.restarts,
                "last_restart": w.last_restart,
                "probes": {k: {**s.last, "failures": s.failures} for k, s in w.probes.items()},
            }
        processes.write_json(
            state_path(self.folder),
            {"pid": os.getpid(), "updated_at": now, "components": components, "postgres": self.postgres},
        )
        self.dirty = False
        self.last_write = now

    def run(self) -> None:
        signal.signal(signal.SIGTERM, lambda *_: setattr(self, "stopping", True))
        signal.signal(signal.SIGHUP, lambda *_: setattr(self, "spec_mtime", 0.0))
        self.log(f"supervisor started, pid {os.getpid()}")
        while not self.stopping:
            self.reload()
            now = time.time()
            self._check_postgres(now)
            for watched in list(self.watched.values()):
                self._check(watched, now)
            self.write_state(now)
            time.sleep(TICK)
        self.log("supervisor stopping (components keep running; destroy stops them)")
        self.pool.shutdown(wait=False, cancel_futures=True)


def main() -> None:
    Supervisor(Path(sys.argv[1])).run()


if __name__ == "__main__":
    main()
