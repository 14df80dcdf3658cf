"""airflow_local_settings: a successful health probe leaves no access line; a failing one still does."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

DAGS = Path(__file__).resolve().parents[2] / "dags"

# A health server like the scheduler's (stdlib BaseHTTPRequestHandler), probed once OK and once failing.
SERVER = textwrap.dedent(
    """
    import threading, urllib.request, urllib.error
    from http.server import BaseHTTPRequestHandler, HTTPServer
    import airflow_local_settings  # what Airflow imports at start-up

    class Health(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/health" and not getattr(self.server, "sick", False):
                self.send_response(200)
                self.end_headers()
            else:
                self.send_error(503)

    server = HTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/health"
    urllib.request.urlopen(url).read()
    server.sick = True
    try:
        urllib.request.urlopen(url)
    except urllib.error.HTTPError:
        pass
    server.shutdown()
    """
)


def test_only_failed_health_probes_are_logged():
    proc = subprocess.run([sys.executable, "-c", SERVER], cwd=DAGS, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert not [line for line in lines if '"GET /health HTTP/1.1" 200' in line], lines
    assert [line for line in lines if '"GET /health HTTP/1.1" 503' in line], lines


def test_the_dag_processor_does_not_parse_it_as_a_dag_file():
    assert "airflow_local_settings.py" in (DAGS / ".airflowignore").read_text().splitlines()
