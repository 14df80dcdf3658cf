"""infra.kube against a loopback fake Kubernetes API: a real HTTP GET through the port-forward, and the exec API.

The fake (tests/kube/fake_kube.py) answers the REST paths the client calls and speaks the v4 channel
framing over websockets; the "pod" behind the forward is a plain HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml

from infra import kube, naming
from infra.errors import UserError
from tests.cli.helpers import closed_port, load_env
from tests.kube.fake_kube import FakeKube, pod, service

TOKEN = "fixture-k8s-token"


class PodHttp(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's naming
        body = json.dumps({"served_by": "the pod", "path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def _settled(before: set[threading.Thread]) -> set[str]:
    """Threads started during the test that are still alive (after giving closing sockets a moment)."""
    deadline = time.monotonic() + 10
    while True:
        left = {t for t in threading.enumerate() if t not in before and t.is_alive()}
        if not left or time.monotonic() > deadline:
            return {t.name for t in left}
        time.sleep(0.05)


@pytest.fixture
def env():
    return load_env("prod")


@pytest.fixture
def cluster(env, tmp_path):
    """(fake API server, kubeconfig path); one Ready API server pod and one that is not Ready."""
    before = set(threading.enumerate())
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), PodHttp)
    serving = threading.Thread(target=upstream.serve_forever, daemon=True)
    serving.start()
    fake = FakeKube(token=TOKEN, upstream=upstream.server_address[1])
    ns = naming.namespace(env)
    fake.services[(ns, naming.API_SERVER_SERVICE)] = service(ns, naming.API_SERVER_SERVICE, target_port="api-server")
    fake.pods += [pod(ns, "airflow-api-server-0", ready=False), pod(ns, "airflow-api-server-1"),
                  pod(ns, "airflow-scheduler-0", labels={"component": "scheduler"})]
    path = tmp_path / "kubeconfig.yaml"
    path.write_text(yaml.safe_dump(fake.kubeconfig()))
    yield fake, path
    fake.close()
    upstream.shutdown()
    upstream.server_close()
    serving.join(timeout=10)
    assert _settled(before) == set(), "every thread the test started has stopped"


def test_http_get_through_the_port_forward_reaches_the_ready_pod(env, cluster):
    fake, path = cluster
    with kube.api_server(env, path) as url:
        assert url.startswith("http://127.0.0.1:")
        for _ in range(2):  # one websocket per connection: a second request works as the first
            with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=30) as response:
                assert json.loads(response.read()) == {"served_by": "the pod", "path": "/api/v2/monitor/health"}
    assert set(fake.forwards) == {"airflow-api-server-1"}, "only the Ready pod behind the Service is used"
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=5)  # the local port is closed afterwards


def test_no_ready_pod_is_one_clear_line(env, cluster):
    fake, path = cluster
    fake.pods = [p for p in fake.pods if p["metadata"]["name"] != "airflow-api-server-1"]
    with pytest.raises(UserError, match=r"no Ready pod behind Service \S+/airflow-api-server \(1 pods match ") as err:
        with kube.api_server(env, path):
            pass
    assert "\n" not in str(err.value)


def test_expired_credentials_say_unauthorized(env, cluster, tmp_path):
    fake, _ = cluster
    stale = tmp_path / "stale.yaml"
    stale.write_text(yaml.safe_dump(fake.kubeconfig(token="expired-token")))
    with pytest.raises(UserError, match="refused the credentials in .*stale.yaml \\(unauthorized\\): they are expired"):
        with kube.api_server(env, stale):
            pass


def test_refused_port_forward_is_caught_before_the_url_is_handed_out(env, cluster):
    fake, path = cluster
    fake.forbid_forwards = True
    with pytest.raises(UserError, match=r"port-forward to pod \S+/airflow-api-server-1 is forbidden for these credentials"):
        with kube.api_server(env, path):
            pytest.fail("the block must not run without a working port-forward")


def test_unreachable_api_server_is_one_clear_line(env, tmp_path):
    config = FakeKube.kubeconfig.__get__(type("Closed", (), {"url": f"http://127.0.0.1:{closed_port()}", "token": "t"})())()
    path = tmp_path / "kubeconfig.yaml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(UserError, match=r"Kubernetes API server at http://127.0.0.1:\d+ is unreachable \(Service "):
        with kube.api_server(env, path):
            pass


def test_exec_returns_exit_code_and_output(env, cluster):
    fake, path = cluster
    client = kube.Cluster(path)
    try:
        target = kube.api_server_pod(client, env)
        script = "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)"
        result = kube.exec_in(client, target, "api-server", ["python", "-c", script], timeout=60)
        assert (result.code, result.stdout, result.stderr) == (3, "out\n", "err\n")
        assert kube.exec_in(client, target, "api-server", [sys.executable, "-c", "print(1)"], timeout=60).code == 0
    finally:
        client.close()
    assert fake.execs[0][:2] == ["python", "-c"]
