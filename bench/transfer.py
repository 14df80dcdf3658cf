"""Incremental S3 → GCS copy against a plain copy loop, measured in the same run on this machine.

    python bench/transfer.py [--objects 2000] [--size-kb 100]

Starts the local platform's own endpoints (`python -m infra.local.storage s3|gcs`, moto's server and
the GCS emulator, on free loopback ports), puts N objects (2,000 × 100 KB ≈ 200 MB) in S3, then:

1. baseline: one process, one loop, boto3 `get_object` → google-cloud-storage `upload_from_string`;
2. full: `platform_dags.transfer.sync` (what the transfers' operator runs) into an empty prefix;
3. no-op: `sync` again, nothing new.

Prints throughput (MB/s) and ratios; goals: full ≥ 0.8× the baseline's throughput, no-op ≤ 10 % of the
full copy's time. Both endpoints are single Python processes, so they, not the clients, set the pace.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "dags")]

from infra.local import storage  # noqa: E402
from platform_dags.transfer import sync  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(tmp: Path) -> tuple[list[subprocess.Popen], str, str]:
    s3_port, gcs_port = free_port(), free_port()
    procs = [
        subprocess.Popen([sys.executable, "-m", "infra.local.storage", *args], cwd=ROOT, start_new_session=True,
                         stdout=open(tmp / f"{args[0]}.log", "wb"), stderr=subprocess.STDOUT)
        for args in (["s3", "--port", str(s3_port)],
                     ["gcs", "--port", str(gcs_port), "--data-dir", str(tmp / "gcs"), "--bucket", "mirror"])
    ]
    s3_url, gcs_url = f"http://127.0.0.1:{s3_port}", f"http://127.0.0.1:{gcs_port}"
    for url in (s3_url, gcs_url):
        deadline = time.monotonic() + 60
        while storage.probe(url + "/", timeout=2, say=lambda _: None):
            if time.monotonic() > deadline:
                raise SystemExit(f"{url} did not start; see {tmp}")
            time.sleep(0.2)
    return procs, s3_url, gcs_url


def baseline(s3, gcs, keys: list[str]) -> None:
    bucket = gcs.bucket("mirror")
    for key in keys:
        data = s3.get_object(Bucket="bench", Key=key)["Body"].read()
        bucket.blob(f"baseline/{key}").upload_from_string(data)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=2000)
    parser.add_argument("--size-kb", type=int, default=100)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-transfer-"))
    procs, s3_url, gcs_url = start(tmp)
    os.environ["STORAGE_EMULATOR_HOST"] = gcs_url
    try:
        from google.cloud import storage as gcs_storage

        s3, gcs = storage.s3_client(s3_url), gcs_storage.Client(project="local")
        s3.create_bucket(Bucket="bench")
        keys = [f"data/{i // 100:02d}/binlog.{i:06d}" for i in range(args.objects)]
        size = args.size_kb * 1024
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda k: s3.put_object(Bucket="bench", Key=k, Body=os.urandom(size)), keys))
        total_mb = args.objects * size / 1e6
        print(f"{args.objects} objects, {total_mb:.0f} MB in s3://bench/data/")

        t = time.perf_counter()
        baseline(s3, gcs, keys)
        base = time.perf_counter() - t
        t = time.perf_counter()
        full_counts = sync(s3, gcs, "s3://bench/data/", "gs://mirror/sync/")
        full = time.perf_counter() - t
        t = time.perf_counter()
        noop_counts = sync(s3, gcs, "s3://bench/data/", "gs://mirror/sync/")
        noop = time.perf_counter() - t
        assert full_counts.copied == args.objects and noop_counts.copied == 0, (full_counts, noop_counts)

        print(f"baseline loop (boto3 + google-cloud-storage): {base:7.2f} s  {total_mb / base:6.1f} MB/s")
        print(f"sync, full copy:                              {full:7.2f} s  {total_mb / full:6.1f} MB/s")
        print(f"sync, nothing new:                            {noop:7.2f} s")
        print(f"throughput ratio (sync / baseline): {base / full:.2f}x   (goal >= 0.8x)")
        print(f"no-op run / full copy:              {100 * noop / full:.1f} %   (goal <= 10 %)")
        return 0
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
