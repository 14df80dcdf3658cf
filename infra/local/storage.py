"""Object storage on the local platform: an S3 endpoint (moto's server) and a GCS endpoint (emulator).

    python -m infra.local.storage s3 --port P --seed-from dags/pipelines
    python -m infra.local.storage gcs --port P --data-dir D --bucket B [--bucket ...]
    python -m infra.local.storage probe http://127.0.0.1:P/

Both run as supervised components (see `infra.airflow_config`), on 127.0.0.1 only, with an exec
liveness probe (`probe`: HTTP GET answered with 200-399). moto keeps its data in memory, so every
start of the S3 endpoint (a restart by the supervisor too) creates the buckets the `transfers:`
pipelines read and seeds sample binlog files under each source prefix; the GCS endpoint keeps its
objects on disk (task logs survive restarts) and creates the destination and task-logs buckets.
No Airflow import: these start in well under a second.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml

REGION = "us-east-1"
# moto accepts any credentials; these are its documented test values, not secrets.
TEST_KEY, TEST_SECRET = "testing", "testing"
SAMPLE_FILES = 24  # one day of hourly binlog files per source prefix
SAMPLE_BYTES = 64 * 1024


def transfer_urls(pipelines: Path) -> list[tuple[str, str]]:
    """(source URL, destination URL) of every transfer in the pipeline files of `pipelines`."""
    pairs = []
    for path in sorted(Path(pipelines).glob("*.yaml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError:
            continue  # `invoke dags.validate` reports it; seeding skips it
        transfers = data.get("transfers") if isinstance(data, dict) else None
        for t in transfers if isinstance(transfers, list) else []:
            if isinstance(t, dict) and isinstance(t.get("source"), str) and isinstance(t.get("destination"), str):
                pairs.append((t["source"], t["destination"]))
    return pairs


def _split(url: str) -> tuple[str, str]:
    bucket, _, prefix = url.split("://", 1)[1].partition("/")
    return bucket, prefix if not prefix or prefix.endswith("/") else prefix + "/"


def sample_binlog(prefix: str, n: int, size: int = SAMPLE_BYTES) -> bytes:
    """Deterministic bytes standing in for one MySQL binlog file (the binlog magic, then filler)."""
    seed = hashlib.sha256(f"{prefix}{n}".encode()).digest()
    return (b"\xfebin" + seed * (size // len(seed) + 1))[:size]


def seed_s3(client, pairs: list[tuple[str, str]], files: int = SAMPLE_FILES) -> int:
    """Create the source buckets and put `files` sample binlogs under each source prefix; returns objects put."""
    put = 0
    for source, _ in pairs:
        bucket, prefix = _split(source)
        client.create_bucket(Bucket=bucket)  # idempotent on moto's us-east-1
        for n in range(1, files + 1):
            client.put_object(Bucket=bucket, Key=f"{prefix}mysql-bin.{n:06d}", Body=sample_binlog(prefix, n))
            put += 1
    return put


def s3_client(endpoint: str):
    """A boto3 S3 client for the local endpoint (the test credentials moto accepts)."""
    import boto3

    return boto3.client(
        "s3", endpoint_url=endpoint, region_name=REGION, aws_access_key_id=TEST_KEY, aws_secret_access_key=TEST_SECRET
    )


def serve_s3(port: int, seed_from: Path | None) -> None:
    import logging

    from moto.moto_server.threaded_moto_server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request would flood the log

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    if seed_from is not None:
        pairs = transfer_urls(seed_from)
        print(f"seeded {seed_s3(s3_client(f'http://127.0.0.1:{port}'), pairs)} sample binlog files for {len(pairs)} transfer(s)", flush=True)
    print(f"S3 endpoint on http://127.0.0.1:{port}", flush=True)
    _forever(server.stop)


def serve_gcs(port: int, data_dir: Path, buckets: list[str]) -> None:
    import http.server
    from functools import partial

    from gcp_storage_emulator.handlers.buckets import create_bucket
    from gcp_storage_emulator.server import RequestHandler
    from gcp_storage_emulator.storage import Storage

    data_dir.mkdir(parents=True, exist_ok=True)
    store = Storage(use_memory_fs=False, data_dir=str(data_dir))
    # The emulator rewrites its whole metadata file (every object's resource, as indented JSON) after
    # each write: O(objects) per object, minutes for a few thousand. Write it at most once a second, from
    # the server's own (single) thread, so it never races a request; data files are written at once.
    write_metadata, dirty, last = store._write_config_to_file, [], [0.0]
    store._write_config_to_file = lambda: dirty.append(True)

    def flush(force: bool = False) -> None:
        if dirty and (force or time.monotonic() - last[0] >= 1.0):
            dirty.clear()
            write_metadata()
            last[0] = time.monotonic()

    class Server(http.server.HTTPServer):
        def service_actions(self) -> None:  # called by serve_forever between requests and every poll
            flush()

    _answer_missing_objects_like_gcs()
    for bucket in buckets:
        if store.get_bucket(bucket) is None:
            create_bucket(bucket, store)
    httpd = Server(("127.0.0.1", port), partial(RequestHandler, store))
    print(f"GCS endpoint on http://127.0.0.1:{port} (buckets: {', '.join(buckets)}; data in {data_dir})", flush=True)
    signal_exit()
    try:
        httpd.serve_forever(poll_interval=0.5)
    finally:
        flush(force=True)
        httpd.server_close()


def _answer_missing_objects_like_gcs() -> None:
    """A download of a missing object gets GCS's body, `No such object: bucket/name`, not an empty one.

    Airflow's GCS task-log writer tells "no log yet" from "GCS is failing" by that text; with an empty
    404 it refuses to write the first log of every task (and keeps it only on the local disk).
    """
    from http import HTTPStatus

    from gcp_storage_emulator import server as emulator
    from gcp_storage_emulator.handlers import objects

    def download(request, response, storage, *args, **kwargs):
        objects.download(request, response, storage, *args, **kwargs)
        if response.status == HTTPStatus.NOT_FOUND and not response._content:
            response._content = f"No such object: {request.params['bucket_name']}/{request.params['object_id']}"

    for _, methods in emulator.HANDLERS:
        for method, handler in methods.items():
            if handler is objects.download:
                methods[method] = download


def signal_exit() -> None:
    """SIGTERM (the supervisor's and `destroy`'s stop) exits through `finally` blocks, like Ctrl-C."""
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))


def _forever(stop) -> None:
    signal_exit()
    try:
        while True:
            time.sleep(3600)
    finally:
        stop()


def probe(url: str, timeout: float = 5, say=print) -> int:
    """Exit status of one liveness check: 0 when `url` answers 200-399 (`say` gets the reason otherwise)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return 0 if 200 <= answer.status < 400 else 1
    except urllib.error.HTTPError as exc:
        say(f"HTTP {exc.code} from {url}")
    except Exception as exc:
        say(f"{url}: {type(exc).__name__}: {exc}"[:200])
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.local.storage", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    s3 = sub.add_parser("s3", help="serve S3 (moto) and seed the transfers' sources")
    s3.add_argument("--port", type=int, required=True)
    s3.add_argument("--seed-from", type=Path, help="folder of pipeline YAML whose transfers' sources get sample files")
    gcs = sub.add_parser("gcs", help="serve GCS (emulator) with its data on disk")
    gcs.add_argument("--port", type=int, required=True)
    gcs.add_argument("--data-dir", type=Path, required=True)
    gcs.add_argument("--bucket", action="append", default=[])
    check = sub.add_parser("probe", help="exit 0 when the URL answers")
    check.add_argument("url")
    args = parser.parse_args(argv)
    if args.what == "probe":
        return probe(args.url)
    if args.what == "s3":
        serve_s3(args.port, args.seed_from)
    else:
        serve_gcs(args.port, args.data_dir, args.bucket)
    return 0


if __name__ == "__main__":
    sys.exit(main())
