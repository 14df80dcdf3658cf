"""Incremental S3 → GCS copies: the operator behind `transfers:` pipelines, and the copy it runs.

An object is copied when it is new or changed, judged by the source's ETag and size as recorded in the
destination object's own metadata (`source-etag`, `source-size`). ETags, not MD5s: a multipart upload's
ETag is not an MD5, and `S3ToGCSOperator` compares names only, so a changed file of the same name would
never be copied again. Why a rerun copies nothing and a killed run resumes exactly:

* the destination object and its metadata are written in ONE upload (GCS creates an object only when
  its upload completes, metadata included), so there is never an object without its metadata, and no
  partial object: a run killed mid-upload leaves nothing behind for that key;
* the metadata records the ETag and size of the bytes actually read (the GET's answer, not the
  listing's), so an object changed between listing and copying is copied again next time.

Objects stream from S3 to GCS (no temporary file); a few copies run in parallel threads. Counts of
objects and bytes go to XCom (the Slack summary shows them); object data never does.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any, Callable

from airflow.sdk import BaseOperator

ETAG_KEY = "source-etag"
SIZE_KEY = "source-size"
S3_URL = re.compile(r"^s3://(?P<bucket>[^/]*)(?:/(?P<prefix>.*))?$")
GS_URL = re.compile(r"^gs://(?P<bucket>[^/]*)(?:/(?P<prefix>.*))?$")


def split_url(url: str) -> tuple[str, str]:
    """`s3://bucket/a/b` or `gs://bucket/a/b` → ("bucket", "a/b/"): a prefix is a folder, so it ends in "/"."""
    match = S3_URL.match(url) or GS_URL.match(url)
    if not match or not match["bucket"]:
        raise ValueError(f"{url!r} is not an s3:// or gs:// URL with a bucket")
    prefix = match["prefix"] or ""
    return match["bucket"], prefix if not prefix or prefix.endswith("/") else prefix + "/"


@dataclass
class Counts:
    """What one run did: objects and bytes copied, objects already up to date."""

    copied: int = 0
    copied_bytes: int = 0
    unchanged: int = 0
    source_objects: int = 0


def list_source(s3_client, bucket: str, prefix: str) -> list[dict]:
    """Every object under the prefix as {"Key", "ETag", "Size"}; folder markers (`.../`) are skipped."""
    objects = []
    for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        objects.extend(o for o in page.get("Contents", ()) if not o["Key"].endswith("/"))
    return objects


def list_destination(gcs_client, bucket: str, prefix: str) -> dict[str, dict]:
    """{object name: its custom metadata} under the prefix (only the two fields the comparison needs)."""
    blobs = gcs_client.list_blobs(bucket, prefix=prefix, fields="items(name,metadata),nextPageToken")
    return {blob.name: blob.metadata or {} for blob in blobs}


def plan(source: list[dict], destination: dict[str, dict], source_prefix: str, destination_prefix: str) -> list[tuple[str, str]]:
    """(source key, destination name) of every object that is new or whose ETag or size changed."""
    todo = []
    for obj in source:
        name = destination_prefix + obj["Key"][len(source_prefix):]
        seen = destination.get(name)
        if seen is None or seen.get(ETAG_KEY) != obj["ETag"] or seen.get(SIZE_KEY) != str(obj["Size"]):
            todo.append((obj["Key"], name))
    return todo


def copy_one(s3_client, gcs_bucket, source_bucket: str, key: str, name: str) -> int:
    """Stream one object into GCS with its source ETag and size in the same upload; returns its size."""
    answer = s3_client.get_object(Bucket=source_bucket, Key=key)
    size = answer["ContentLength"]
    blob = gcs_bucket.blob(name)
    blob.metadata = {ETAG_KEY: answer["ETag"], SIZE_KEY: str(size)}
    body = answer["Body"]
    try:
        blob.upload_from_file(body, size=size, content_type=answer.get("ContentType") or "application/octet-stream")
    finally:
        body.close()
    return size


def sync(
    s3_client,
    gcs_client,
    source_url: str,
    destination_url: str,
    *,
    parallel: int = 8,
    progress: Callable[[str], None] = lambda line: None,
) -> Counts:
    """Copy what is new or changed under `source_url` to `destination_url`; the clients are boto3's and google-cloud-storage's."""
    source_bucket, source_prefix = split_url(source_url)
    dest_bucket, dest_prefix = split_url(destination_url)
    source = list_source(s3_client, source_bucket, source_prefix)
    todo = plan(source, list_destination(gcs_client, dest_bucket, dest_prefix), source_prefix, dest_prefix)
    counts = Counts(unchanged=len(source) - len(todo), source_objects=len(source))
    progress(f"{len(source)} objects under {source_url}: {len(todo)} new or changed, {counts.unchanged} up to date")
    bucket = gcs_client.bucket(dest_bucket)
    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        for size in pool.map(lambda item: copy_one(s3_client, bucket, source_bucket, *item), todo):
            counts.copied += 1
            counts.copied_bytes += size
    return counts


class S3ToGCSIncrementalOperator(BaseOperator):
    """Copy new and changed objects from an S3 prefix to a GCS prefix (see the module docstring).

    Built on `S3Hook` and `GCSHook`, so the connections (`aws_default`, `google_cloud_default` or the
    pipeline's) carry credentials and endpoints. Returns {"copied", "copied_bytes", "unchanged",
    "source_objects"} as XCom for the run's Slack summary.
    """

    template_fields = ("source", "destination")
    ui_color = "#e8f0fe"

    def __init__(
        self,
        *,
        source: str,
        destination: str,
        aws_conn_id: str = "aws_default",
        gcp_conn_id: str = "google_cloud_default",
        parallel: int = 8,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.source = source
        self.destination = destination
        self.aws_conn_id = aws_conn_id
        self.gcp_conn_id = gcp_conn_id
        self.parallel = parallel

    def execute(self, context: Any) -> dict[str, int]:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook
        from airflow.providers.google.cloud.hooks.gcs import GCSHook

        s3 = S3Hook(aws_conn_id=self.aws_conn_id).get_conn()
        gcs = GCSHook(gcp_conn_id=self.gcp_conn_id).get_conn()
        counts = sync(s3, gcs, self.source, self.destination, parallel=self.parallel, progress=self.log.info)
        self.log.info("copied %d objects (%d bytes) to %s; %d up to date", counts.copied, counts.copied_bytes, self.destination, counts.unchanged)
        return asdict(counts)
