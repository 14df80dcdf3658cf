"""Reaching Airflow inside the cluster from CI: a port-forward and an exec over the Kubernetes python client.

GitHub runners are in no authorized network and the API server Service has no public address, so the
toolkit talks to Airflow the way `kubectl port-forward` does: through the Kubernetes API (the cluster's
DNS endpoint, authorized by IAM), over a websocket to a Ready pod behind the API server Service. Every
failure a person can fix — expired credentials, an unreachable control plane, no Ready pod — is one line.

    with api_server(env, kubeconfig) as url:      # http://127.0.0.1:<free port>
        urllib.request.urlopen(f"{url}/api/v2/monitor/health")
"""

from __future__ import annotations

import json
import re
import select
import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from infra import naming
from infra.config import Environment
from infra.errors import UserError

REQUEST_TIMEOUT = 30  # seconds per Kubernetes API call
POLL = 0.2  # how often the relay threads look at the stop flag
CHUNK = 64 * 1024


class Cluster:
    """The Kubernetes API named by a kubeconfig, with its failures turned into UserErrors."""

    def __init__(self, kubeconfig: Path):
        from kubernetes import client, config
        from kubernetes.config.config_exception import ConfigException

        self.kubeconfig = kubeconfig
        try:
            # persist_config=False: never write refreshed credentials back into the owner-only file.
            api_client = config.new_client_from_config(config_file=str(kubeconfig), persist_config=False)
        except (ConfigException, OSError) as exc:
            raise UserError(f"{kubeconfig}: not a usable kubeconfig: {exc}") from None
        self.host = api_client.configuration.host
        self.core = client.CoreV1Api(api_client)

    def close(self) -> None:
        self.core.api_client.close()

    def failure(self, what: str, exc: BaseException) -> UserError:
        """One line for a failed call: unauthorized, forbidden, missing, or unreachable."""
        from kubernetes.client.exceptions import ApiException

        status = getattr(exc, "status", None)
        reason = _reason(exc)
        if isinstance(exc, ApiException) and status == 0:  # a websocket call: the handshake's HTTP status is in the text
            for code in (401, 403, 404):
                if f"Handshake status {code}" in reason:
                    status = code
        if status == 401:
            return UserError(
                f"Kubernetes API at {self.host} refused the credentials in {self.kubeconfig} (unauthorized): they are "
                "expired or invalid; refresh them (gcloud auth application-default login, or rerun the deploy's credentials step)"
            )
        if status == 403:
            return UserError(f"Kubernetes API at {self.host}: {what} is forbidden for these credentials: {reason}")
        if status == 404:
            return UserError(f"Kubernetes API at {self.host}: {what}: not found")
        if isinstance(exc, ApiException) and status:
            return UserError(f"Kubernetes API at {self.host}: {what}: HTTP {status} {reason}")
        return UserError(f"Kubernetes API server at {self.host} is unreachable ({what}): {reason}")

    def call(self, what: str, method, *args, **kwargs) -> Any:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            return method(*args, _request_timeout=REQUEST_TIMEOUT, **kwargs)
        except (ApiException, HTTPError, OSError) as exc:
            raise self.failure(what, exc) from None
        except AttributeError as exc:
            # kubernetes 36: a refused websocket handshake raises ApiException(status=0) without a body, and
            # api_client's `e.body.decode()` then fails on it; the ApiException is this error's context.
            if isinstance(exc.__context__, ApiException):
                raise self.failure(what, exc.__context__) from None
            raise


def _reason(exc: BaseException) -> str:
    """The first useful line: the Status message the API server sent, else the exception's own words."""
    try:
        message = json.loads(getattr(exc, "body", None) or "null")["message"]
    except (ValueError, TypeError, KeyError):
        message = None
    text = message or str(getattr(exc, "reason", "") or exc) or type(exc).__name__
    text = text.split(" -+-+- ")[0]  # websocket-client appends the response headers and body after this marker
    text = re.sub(r"^<[^>]*>: ", "", text.strip())  # urllib3 prefixes the connection object's repr
    return (text.splitlines() or [type(exc).__name__])[0]


@dataclass(frozen=True)
class Target:
    namespace: str
    pod: str
    port: int


def _ready(pod) -> bool:
    conditions = pod.status.conditions or []
    return (
        pod.status.phase == "Running"
        and pod.metadata.deletion_timestamp is None
        and any(c.type == "Ready" and c.status == "True" for c in conditions)
    )


def _container_port(pod, name: str) -> int | None:
    for container in pod.spec.containers:
        for port in container.ports or []:
            if port.name == name:
                return port.container_port
    return None


def api_server_pod(cluster: Cluster, env: Environment) -> Target:
    """A Ready pod behind the API server Service (through the Service's selector) and its target port."""
    namespace, service = naming.namespace(env), naming.API_SERVER_SERVICE
    svc = cluster.call(f"Service {namespace}/{service}", cluster.core.read_namespaced_service, service, namespace)
    selector = ",".join(f"{k}={v}" for k, v in sorted((svc.spec.selector or {}).items()))
    if not selector:
        raise UserError(f"Service {namespace}/{service} has no selector: no pod to forward to")
    pods = cluster.call(f"pods of Service {namespace}/{service}", cluster.core.list_namespaced_pod, namespace, label_selector=selector).items
    ready = sorted((p for p in pods if _ready(p)), key=lambda p: p.metadata.name)
    if not ready:
        raise UserError(
            f"no Ready pod behind Service {namespace}/{service} ({len(pods)} pods match {selector}): "
            f"is the API server running? (kubectl -n {namespace} get pods -l {selector})"
        )
    pod = ready[0]
    spec = next((p for p in svc.spec.ports or [] if p.port == naming.API_SERVER_PORT), None)
    if spec is None:
        raise UserError(f"Service {namespace}/{service} has no port {naming.API_SERVER_PORT}")
    target = spec.target_port if spec.target_port is not None else spec.port
    if isinstance(target, str) and not target.isdigit():
        resolved = _container_port(pod, target)
        if resolved is None:
            raise UserError(f"pod {namespace}/{pod.metadata.name} has no container port named {target!r}")
        target = resolved
    return Target(namespace, pod.metadata.name, int(target))


# --- The port-forward --------------------------------------------------------------------------------


class Tunnel:
    """127.0.0.1:<free port> relayed to the pod's port, one port-forward websocket per local connection."""

    def __init__(self, cluster: Cluster, target: Target):
        self.cluster, self.target = cluster, target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(POLL)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def open_forward(self):
        """A port-forward websocket to the pod; raises a UserError (unauthorized, unreachable, gone)."""
        from kubernetes.stream import portforward

        t = self.target
        return self.cluster.call(
            f"port-forward to pod {t.namespace}/{t.pod}", portforward,
            self.cluster.core.connect_get_namespaced_pod_portforward, t.pod, t.namespace, ports=str(t.port),
        )

    def start(self) -> None:
        # One forward before the URL is handed out: a refused port-forward is a clear error now, not a reset later.
        self._close_forward(self.open_forward())
        self._spawn(self._accept)

    def _spawn(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, name=f"kube tunnel {self.url}", daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._spawn(self._relay, conn)

    def _relay(self, conn: socket.socket) -> None:
        try:
            forward = self.open_forward()
        except UserError as exc:
            self.errors.append(str(exc))
            conn.close()
            return
        remote = forward.socket(self.target.port)
        remote.setblocking(True)
        try:
            self._pump(conn, remote)
        finally:
            conn.close()
            self._close_forward(forward)
            if forward.error(self.target.port):
                self.errors.append(f"pod {self.target.pod} port {self.target.port}: {forward.error(self.target.port)}")

    def _pump(self, local: socket.socket, remote) -> None:
        while not self._stop.is_set():
            readable, _, _ = select.select([local, remote], [], [], POLL)
            for sock in readable:
                try:
                    data = sock.recv(CHUNK)
                except OSError:
                    return
                if not data:
                    return
                (remote if sock is local else local).sendall(data)

    @staticmethod
    def _close_forward(forward) -> None:
        """Close a port-forward: our half of its socket pair, then, once the client's proxy let go, the websocket."""
        forward.close()
        ports = forward.local_ports.values()
        deadline = time.monotonic() + 5
        while not all(p.python.fileno() == -1 for p in ports) and time.monotonic() < deadline:
            time.sleep(0.01)
        # The client's proxy leaves the socket open when the API server closed first, and otherwise waits up
        # to 3 s for a close reply: end the TCP connection now (its close() swallows the error and returns).
        forward.websocket.shutdown()

    def stop(self) -> None:
        self._stop.set()
        self.listener.close()
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout=10)


@contextmanager
def forwarded(cluster: Cluster, target: Target) -> Iterator[str]:
    """`http://127.0.0.1:<port>` relayed to `target` while the block runs."""
    tunnel = Tunnel(cluster, target)
    try:
        tunnel.start()
        yield tunnel.url
    except UserError as exc:
        if tunnel.errors:  # the tunnel's own reason explains a reset connection better than the HTTP client can
            raise UserError(f"{exc} (port-forward: {tunnel.errors[0]})") from None
        raise
    finally:
        tunnel.stop()


@contextmanager
def api_server(env: Environment, kubeconfig: Path) -> Iterator[str]:
    """`http://127.0.0.1:<port>`: Airflow's API server in `env`'s cluster, port-forwarded while the block runs."""
    cluster = Cluster(kubeconfig)
    try:
        with forwarded(cluster, api_server_pod(cluster, env)) as url:
            yield url
    finally:
        cluster.close()


# --- Exec ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExecResult:
    code: int
    stdout: str
    stderr: str


def exec_in(cluster: Cluster, target: Target, container: str, command: list[str], *, timeout: float) -> ExecResult:
    """Run `command` in the pod's container through the exec API; its exit code and output."""
    import yaml
    from kubernetes.stream import stream

    where = f"exec in pod {target.namespace}/{target.pod}"
    ws = cluster.call(
        where, stream, cluster.core.connect_get_namespaced_pod_exec, target.pod, target.namespace,
        command=command, container=container, stdin=False, stdout=True, stderr=True, tty=False, _preload_content=False,
    )
    try:
        ws.run_forever(timeout=timeout)
        if ws.is_open():
            raise UserError(f"{where}: {command[0]} did not finish within {timeout:.0f} s")
        stdout, stderr = ws.read_stdout(), ws.read_stderr()
        status = yaml.safe_load(ws.read_channel(3) or "null")  # v4 error channel: a metav1.Status
    finally:
        ws.close()
        ws.sock.shutdown()  # after the server's close frame the client's close() returns and leaves the socket open
    if not isinstance(status, dict):
        raise UserError(f"{where}: the connection closed before {command[0]} reported an exit status")
    if status.get("status") == "Success":
        return ExecResult(0, stdout, stderr)
    causes = (status.get("details") or {}).get("causes") or []
    code = next((c.get("message") for c in causes if c.get("reason") == "ExitCode"), None)
    if code is None:
        raise UserError(f"{where}: {status.get('message') or status}")
    return ExecResult(int(code), stdout, stderr)
