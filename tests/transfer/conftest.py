"""Real object storage on loopback for the transfer tests: the local platform's own S3 and GCS endpoints.

``endpoints`` (session) starts `python -m infra.local.storage s3|gcs` on free ports, exactly as the
local platform's supervisor does, waits for their liveness probe, and stops them at the end. Clients
come from ``endpoints.s3()`` (boto3) and ``endpoints.gcs()`` (google-cloud-storage, through the
emulator that ``STORAGE_EMULATOR_HOST`` names).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from infra.local import storage

ROOT = Path(__file__).resolve().parents[2]


class Endpoints:
    def __init__(self, tmp: Path, free_port) -> None:
        self.s3_port, self.gcs_port = free_port(), free_port()
        self.s3_url = f"http://127.0.0.1:{self.s3_port}"
        self.gcs_url = f"http://127.0.0.1:{self.gcs_port}"
        self.procs = []
        for args in (
            ["s3", "--port", str(self.s3_port)],
            ["gcs", "--port", str(self.gcs_port), "--data-dir", str(tmp / "gcs"), "--bucket", "mirror", "--bucket", "task-logs"],
        ):
            log = open(tmp / f"{args[0]}.log", "wb")
            self.procs.append(subprocess.Popen([sys.executable, "-m", "infra.local.storage", *args], cwd=ROOT,
                                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        deadline = time.monotonic() + 60
        for url in (self.s3_url, self.gcs_url):
            while storage.probe(url + "/", timeout=2, say=lambda _: None) != 0:
                assert time.monotonic() < deadline, f"{url} did not answer; see {tmp}"
                time.sleep(0.2)
        os.environ["STORAGE_EMULATOR_HOST"] = self.gcs_url

    def s3(self):
        return storage.s3_client(self.s3_url)

    def gcs(self):
        from google.cloud import storage as gcs

        return gcs.Client(project="local")

    def connections(self) -> dict[str, str]:
        """AIRFLOW_CONN_* values pointing Airflow's S3Hook and GCSHook at these endpoints."""
        aws = {"conn_type": "aws", "login": storage.TEST_KEY, "password": storage.TEST_SECRET,
               "extra": {"endpoint_url": self.s3_url, "region_name": storage.REGION}}
        google = {"conn_type": "google_cloud_platform", "extra": {"is_anonymous": True, "project": "local"}}
        return {"AIRFLOW_CONN_AWS_TEST": json.dumps(aws), "AIRFLOW_CONN_GCP_TEST": json.dumps(google)}

    def stop(self) -> None:
        for proc in self.procs:
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            proc.wait(timeout=20)
        os.environ.pop("STORAGE_EMULATOR_HOST", None)


@pytest.fixture(scope="session")
def endpoints(tmp_path_factory, free_port):
    running = Endpoints(tmp_path_factory.mktemp("object-storage"), free_port)
    yield running
    running.stop()
