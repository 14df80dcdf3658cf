"""A loopback server speaking the Kubernetes API JSON for the calls the stats Job makes, and recording them.

Create Job (POST .../jobs), list pods by label (GET .../pods?labelSelector=), read a pod's log with
follow (GET .../pods/<pod>/log?follow=true, streamed in chunks), delete Job (DELETE .../jobs/<name>).
The pod it reports is `Running` until its log has been read, then terminated with `exit_code`.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlparse

from tests.loopback import Loopback, QuietHandler


class FakeKubernetes(Loopback):
    def __init__(self, log: str = "", exit_code: int = 0, waiting_reason: str | None = None) -> None:
        self.log, self.exit_code, self.waiting_reason = log, exit_code, waiting_reason
        self.calls: list[tuple[str, str, dict]] = []  # (method, path, query)
        self.jobs: dict[str, dict] = {}
        self.deleted: list[str] = []
        self.log_read = False
        fake = self

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.1"

            def _record(self):
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                fake.calls.append((self.command, url.path, query))
                return url.path.strip("/").split("/"), query

            def do_POST(self):  # noqa: N802
                parts, _ = self._record()
                body = json.loads(self.body())
                if parts[:2] == ["apis", "batch"] and parts[-1] == "jobs":
                    fake.jobs[body["metadata"]["name"]] = body
                    return self.reply(201, body)
                self.reply(404, {"kind": "Status", "code": 404, "message": "not found"})

            def do_GET(self):  # noqa: N802
                parts, query = self._record()
                if parts[-1] == "pods":
                    return self.reply(200, {"kind": "PodList", "apiVersion": "v1", "items": fake.pods(query.get("labelSelector", ""))})
                if parts[-1] == "log":
                    fake.log_read = True
                    self.send_response(200)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    data = fake.log.encode()
                    for i in range(0, len(data), 37):  # odd-sized chunks: lines arrive split
                        piece = data[i : i + 37]
                        self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                    self.wfile.write(b"0\r\n\r\n")
                    return None
                self.reply(404, {"kind": "Status", "code": 404, "message": "not found"})

            def do_DELETE(self):  # noqa: N802
                parts, _ = self._record()
                self.body()  # the DeleteOptions, unread it would be taken for the next request
                fake.deleted.append(parts[-1])
                self.reply(200, {"kind": "Status", "apiVersion": "v1", "status": "Success"})

        super().__init__(Handler)

    def pods(self, selector: str) -> list[dict]:
        key, _, value = selector.partition("=")
        pods = []
        for name, job in self.jobs.items():
            labels = job["spec"]["template"]["metadata"]["labels"]
            if labels.get(key) != value:
                continue
            if self.waiting_reason:
                phase, state = "Pending", {"waiting": {"reason": self.waiting_reason, "message": "pull access denied"}}
            elif self.log_read:
                phase = "Succeeded" if self.exit_code == 0 else "Failed"
                state = {"terminated": {"exitCode": self.exit_code, "reason": "Completed"}}
            else:
                phase, state = "Running", {"running": {"startedAt": "2026-12-01T00:00:00Z"}}
            pods.append({
                "metadata": {"name": f"{name}-abcde", "namespace": job["metadata"]["namespace"], "labels": labels},
                "status": {"phase": phase, "containerStatuses": [
                    {"name": "stats", "image": "x", "imageID": "", "ready": phase == "Running", "restartCount": 0, "state": state}
                ]},
            })
        return pods

    def api_client(self):
        from kubernetes import client

        configuration = client.Configuration()
        configuration.host = self.url
        return client.ApiClient(configuration)
