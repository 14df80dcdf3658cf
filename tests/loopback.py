"""HTTP servers on 127.0.0.1 that stand in for remote APIs in tests: one place for their life cycle.

    class Api(QuietHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            self.reply(200, {"ok": True})

    with Loopback(Api) as server:       # a free port; server.url = "http://127.0.0.1:<port>"
        ...

`JsonApi(handle)` is the short form for a fake whose answers are a function of the request, and records
every request. `Loopback(..., tls_dir=...)` serves HTTPS with a self-signed certificate (`ca_bundle`) for
clients that insist on https.
"""

from __future__ import annotations

import json
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, urlparse


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that reads bodies, answers JSON and keeps the access log off the test output."""

    def body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def reply(self, status: int, payload: Any, content_type: str | None = None) -> None:
        """Answer `payload`: JSON unless it is text or bytes (then `text/plain` unless told otherwise)."""
        if isinstance(payload, bytes | str):
            data = payload.encode() if isinstance(payload, str) else payload
            content_type = content_type or "text/plain"
        else:
            data, content_type = json.dumps(payload).encode(), content_type or "application/json"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


class Loopback:
    """`handler` served from a thread on 127.0.0.1:<free port> until `close()` (or the end of a `with`)."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], *, tls_dir: Path | None = None) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.ca_bundle: str | None = None
        if tls_dir is not None:
            self._use_tls(Path(tls_dir))
        # A short poll interval: shutdown() waits up to one interval, and every test closes its servers.
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def _use_tls(self, tls_dir: Path) -> None:
        """A self-signed certificate for 127.0.0.1; clients trust it through `ca_bundle`."""
        import ssl

        cert, key = tls_dir / "cert.pem", tls_dir / "key.pem"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
             "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
            check=True, capture_output=True,
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.url, self.ca_bundle = f"https://127.0.0.1:{self.port}", str(cert)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()

    def __enter__(self) -> Loopback:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


Handle = Callable[[str, str, dict, Any], tuple[int, Any]]


class JsonApi(Loopback):
    """A fake API answering `handle(method, path, query, body) -> (status, json)` for GET and POST.

    The body is parsed as JSON, or as a form (an OAuth token request); every request is kept in
    `requests` as `(method, path, {"query", "body", "auth"})`.
    """

    def __init__(self, handle: Handle) -> None:
        self.requests: list[tuple[str, str, dict]] = []
        api = self

        class Handler(QuietHandler):
            def _serve(self) -> None:
                parsed, raw = urlparse(self.path), self.body()
                if not raw:
                    body = None
                elif "json" in (self.headers.get("Content-Type") or "") or raw.startswith((b"{", b"[")):
                    body = json.loads(raw)
                else:
                    body = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
                query = parse_qs(parsed.query)
                api.requests.append((self.command, parsed.path, {"query": query, "body": body, "auth": self.headers.get("Authorization")}))
                status, payload = handle(self.command, parsed.path, query, body)
                self.reply(status, json.dumps(payload), "application/json")  # JSON even when a string

            do_GET = do_POST = _serve  # noqa: N815 - http.server's naming

        super().__init__(Handler)
