"""A loopback fake of the Kubernetes API paths the toolkit uses, speaking what the python client expects.

REST: `GET /api/v1/namespaces/N/services/S` and `GET /api/v1/namespaces/N/pods?labelSelector=...`.
Websockets (subprotocol v4.channel.k8s.io, one channel byte before each frame's payload):
* `/pods/P/portforward?ports=8080`: channel 0 carries data, 1 errors; each starts with a frame holding the
  port (2 bytes, little-endian), then channel 0 is relayed to a TCP port on 127.0.0.1 (the "pod");
* `/pods/P/exec?command=...`: runs the command as a local process (the "container"), stdout on channel
  1, stderr on 2, then a metav1.Status on channel 3, then closes.
Every request needs `Authorization: Bearer <token>`, or it gets 401 as the real API server answers.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import urllib.parse

from websockets.sync.server import serve

V4 = "v4.channel.k8s.io"
SELECTOR = {"tier": "airflow", "component": "api-server", "release": "airflow"}


def service(namespace: str, name: str, port: int = 8080, target_port: int | str = 8080) -> dict:
    return {
        "kind": "Service", "apiVersion": "v1", "metadata": {"name": name, "namespace": namespace},
        "spec": {"selector": SELECTOR, "ports": [{"name": "api-server", "port": port, "targetPort": target_port, "protocol": "TCP"}]},
    }


def pod(namespace: str, name: str, *, ready: bool = True, labels: dict | None = None) -> dict:
    return {
        "kind": "Pod", "apiVersion": "v1",
        "metadata": {"name": name, "namespace": namespace, "labels": labels if labels is not None else SELECTOR},
        "spec": {"containers": [{"name": "api-server", "ports": [{"name": "api-server", "containerPort": 8080}]}]},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


def _status(code: int, reason: str, message: str) -> dict:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message, "reason": reason, "code": code}


class FakeKube:
    """The fake API server; `upstream` is the 127.0.0.1 port every pod's forwarded port leads to."""

    def __init__(self, *, token: str, upstream: int, exec_env: dict | None = None, exec_answer=None):
        self.token = token
        self.upstream = upstream
        self.exec_env = exec_env
        # command -> (exit code, stdout, stderr) instead of running it, for tests about what the caller does with it
        self.exec_answer = exec_answer
        self.services: dict[tuple[str, str], dict] = {}
        self.pods: list[dict] = []
        self.forwards: list[str] = []  # pod of every port-forward opened
        self.execs: list[list[str]] = []
        self.forbid_forwards = False  # as when RBAC grants get/list pods but not pods/portforward
        self._handlers: list[threading.Thread] = []
        self.server = serve(self._websocket, "127.0.0.1", 0, process_request=self._rest, subprotocols=[V4])
        self.url = f"http://127.0.0.1:{self.server.socket.getsockname()[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def kubeconfig(self, token: str | None = None) -> dict:
        return {
            "apiVersion": "v1", "kind": "Config", "current-context": "fake",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "fake", "user": {"token": token or self.token}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}],
        }

    def close(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=10)
        for handler in list(self._handlers):
            handler.join(timeout=10)

    # --- REST ------------------------------------------------------------------------------------------

    @staticmethod
    def _json(connection, status: int, body: dict):
        response = connection.respond(status, json.dumps(body))
        del response.headers["Content-Type"]
        response.headers["Content-Type"] = "application/json"
        return response

    def _rest(self, connection, request):
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return self._json(connection, 401, _status(401, "Unauthorized", "Unauthorized"))
        url = urllib.parse.urlparse(request.path)
        parts = url.path.strip("/").split("/")
        if parts[:3] != ["api", "v1", "namespaces"] or len(parts) < 5:
            return self._json(connection, 404, _status(404, "NotFound", f"{url.path} not found"))
        namespace, kind = parts[3], parts[4]
        if kind == "services" and len(parts) == 6:
            found = self.services.get((namespace, parts[5]))
            if found is None:
                return self._json(connection, 404, _status(404, "NotFound", f'services "{parts[5]}" not found'))
            return self._json(connection, 200, found)
        if kind == "pods" and len(parts) == 5:
            query = dict(urllib.parse.parse_qsl(url.query))
            wanted = dict(term.split("=", 1) for term in query.get("labelSelector", "").split(",") if term)
            items = [p for p in self.pods if p["metadata"]["namespace"] == namespace
                     and all(p["metadata"]["labels"].get(k) == v for k, v in wanted.items())]
            return self._json(connection, 200, {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": items})
        if kind == "pods" and len(parts) == 7 and parts[6] in ("portforward", "exec"):
            if not any(p["metadata"]["name"] == parts[5] and p["metadata"]["namespace"] == namespace for p in self.pods):
                return self._json(connection, 404, _status(404, "NotFound", f'pods "{parts[5]}" not found'))
            if self.forbid_forwards and parts[6] == "portforward":
                message = f'pods "{parts[5]}" is forbidden: cannot create resource "pods/portforward"'
                return self._json(connection, 403, _status(403, "Forbidden", message))
            return None  # go on with the websocket handshake
        return self._json(connection, 404, _status(404, "NotFound", f"{url.path} not found"))

    # --- Websockets ------------------------------------------------------------------------------------

    def _websocket(self, ws) -> None:
        self._handlers.append(threading.current_thread())
        url = urllib.parse.urlparse(ws.request.path)
        parts = url.path.strip("/").split("/")
        query = urllib.parse.parse_qs(url.query)
        if parts[6] == "portforward":
            self._portforward(ws, parts[5], int(query["ports"][0]))
        else:
            self._exec(ws, query["command"])

    def _portforward(self, ws, pod_name: str, port: int) -> None:
        self.forwards.append(pod_name)
        prefix = port.to_bytes(2, "little")
        ws.send(b"\x00" + prefix)
        ws.send(b"\x01" + prefix)
        upstream = socket.create_connection(("127.0.0.1", self.upstream))

        def pod_to_client():
            while data := upstream.recv(65536):
                ws.send(b"\x00" + data)
            ws.close()

        relay = threading.Thread(target=pod_to_client, daemon=True)
        relay.start()
        try:
            for message in ws:
                if isinstance(message, bytes) and message[:1] == b"\x00" and len(message) > 1:
                    upstream.sendall(message[1:])
        finally:
            upstream.shutdown(socket.SHUT_RDWR)
            relay.join(timeout=10)
            upstream.close()

    def _exec(self, ws, command: list[str]) -> None:
        self.execs.append(command)
        if self.exec_answer is not None:
            code, stdout, stderr = self.exec_answer(command)
        else:
            argv = [sys.executable, *command[1:]] if command[0] == "python" else command  # the "container's" python
            done = subprocess.run(argv, capture_output=True, env=self.exec_env, timeout=300)
            code, stdout, stderr = done.returncode, done.stdout, done.stderr
        if stdout:
            ws.send(b"\x01" + stdout)
        if stderr:
            ws.send(b"\x02" + stderr)
        if code == 0:
            status = {"metadata": {}, "status": "Success"}
        else:
            status = {"metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
                      "message": f"command terminated with non-zero exit code: exit status {code}",
                      "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}
        ws.send(b"\x03" + json.dumps(status).encode())
        ws.close()
