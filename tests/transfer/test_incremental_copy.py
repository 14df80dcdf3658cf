"""Incremental S3 → GCS copies against the real local endpoints (moto's S3 server, the GCS emulator).

What a data engineer relies on: every object arrives intact (MD5s match), a rerun copies nothing, an
object rewritten in place (same key, same size) is copied again, and a run killed midway leaves no
partial object behind and the next run copies exactly what is missing.
"""

from __future__ import annotations

import base64
import hashlib
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from platform_dags.transfer import ETAG_KEY, SIZE_KEY, sync

pytestmark = pytest.mark.integration
N = 2000


def _content(prefix: str, i: int, version: int = 0) -> bytes:
    size = 200 + (i * 37) % 1800  # 200 B to 2 KB, all different
    seed = hashlib.sha256(f"{prefix}/{i}/{version}".encode()).digest()
    return (seed * (size // 32 + 1))[:size]


def _fill(s3, bucket: str, prefix: str, n: int = N) -> dict[str, bytes]:
    s3.create_bucket(Bucket=bucket)
    objects = {f"{prefix}{i // 100:02d}/binlog.{i:06d}": _content(prefix, i) for i in range(n)}
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda kv: s3.put_object(Bucket=bucket, Key=kv[0], Body=kv[1]), objects.items()))
    return objects


def _md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def _mirror(gcs, prefix: str) -> dict:
    return {b.name: b for b in gcs.list_blobs("mirror", prefix=prefix)}


@pytest.fixture(scope="module")
def copied_once(endpoints):
    """2,000 objects under s3://binlogs/full/, copied once to gs://mirror/full/ (the counts of that run)."""
    objects = _fill(endpoints.s3(), "binlogs", "full/")
    counts = sync(endpoints.s3(), endpoints.gcs(), "s3://binlogs/full/", "gs://mirror/full/")
    return objects, counts


def test_two_thousand_objects_arrive_with_matching_md5s(endpoints, copied_once):
    objects, counts = copied_once
    assert (counts.copied, counts.unchanged, counts.copied_bytes) == (N, 0, sum(map(len, objects.values())))
    mirror = _mirror(endpoints.gcs(), "full/")
    assert sorted(mirror) == sorted(objects)
    wrong = [name for name, blob in mirror.items() if blob.md5_hash != _md5(objects[name])]
    assert wrong == [], f"{len(wrong)} objects differ, e.g. {wrong[:3]}"
    blob = mirror["full/00/binlog.000000"]
    assert blob.metadata == {ETAG_KEY: f'"{hashlib.md5(objects[blob.name]).hexdigest()}"', SIZE_KEY: str(blob.size)}


def test_a_rerun_copies_nothing(endpoints, copied_once):
    counts = sync(endpoints.s3(), endpoints.gcs(), "s3://binlogs/full/", "gs://mirror/full/")
    assert (counts.copied, counts.unchanged) == (0, N)


def test_an_object_rewritten_in_place_with_the_same_size_is_copied_again(endpoints, copied_once):
    objects, _ = copied_once
    key = "full/07/binlog.000742"
    new = _content("full/", 742, version=1)
    assert len(new) == len(objects[key]) and new != objects[key]
    endpoints.s3().put_object(Bucket="binlogs", Key=key, Body=new)
    counts = sync(endpoints.s3(), endpoints.gcs(), "s3://binlogs/full/", "gs://mirror/full/")
    assert (counts.copied, counts.copied_bytes) == (1, len(new))
    assert endpoints.gcs().bucket("mirror").blob(key).download_as_bytes() == new


_KILLED_RUN = """
import sys
from infra.local.storage import s3_client
from google.cloud import storage
from platform_dags.transfer import sync
sync(s3_client(sys.argv[1]), storage.Client(project="local"), "s3://binlogs/killed/", "gs://mirror/killed/", parallel=4)
"""


def test_a_run_killed_midway_resumes_with_exactly_the_remainder(endpoints, tmp_path):
    objects = _fill(endpoints.s3(), "binlogs", "killed/")
    gcs = endpoints.gcs()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    run = subprocess.Popen([sys.executable, "-c", _KILLED_RUN, endpoints.s3_url], env=env, start_new_session=True,
                           stderr=open(tmp_path / "killed.log", "wb"))
    try:
        deadline = time.monotonic() + 240
        while len(_mirror(gcs, "killed/")) < N // 4:
            assert run.poll() is None, f"the run ended before it could be killed; see {tmp_path / 'killed.log'}"
            assert time.monotonic() < deadline, "the run copied too little to be killed midway"
            time.sleep(0.2)
    finally:
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()
    time.sleep(0.5)  # an upload the server had fully received just before the kill lands now
    survived = _mirror(gcs, "killed/")
    assert N // 4 <= len(survived) < N, "the kill did not land midway"
    # Nothing partial: every object that exists is whole and carries the metadata it was judged by.
    assert [n for n, b in survived.items() if b.md5_hash != _md5(objects[n]) or b.metadata.get(SIZE_KEY) != str(b.size)] == []

    counts = sync(endpoints.s3(), gcs, "s3://binlogs/killed/", "gs://mirror/killed/")
    assert (counts.copied, counts.unchanged) == (N - len(survived), len(survived))
    final = _mirror(gcs, "killed/")
    assert sorted(final) == sorted(objects)
    assert all(b.md5_hash == _md5(objects[n]) for n, b in final.items())
    # The survivors were not written again: same generation as before the resume.
    assert all(final[n].generation == b.generation for n, b in survived.items())
