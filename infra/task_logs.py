"""`invoke logs ENV --task DAG/RUN/TASK`: a task's log read from the task-logs bucket, not from a disk.

Airflow's remote logging writes each attempt to
`gs://<task-logs bucket>/<TASK_LOG_FOLDER>/dag_id=<dag>/run_id=<run>/task_id=<task>/attempt=<n>.log`
(Airflow 3's default `log_filename_template`). On GCP the bucket is read with the caller's Application
Default Credentials; locally through the local GCS endpoint (anonymous, loopback). Each log line is
JSON (Airflow 3's structured task logs); it is printed as `time level source: event`.
"""

from __future__ import annotations

import json

from infra import naming
from infra.airflow_config import TASK_LOG_FOLDER
from infra.config import Environment
from infra.errors import UserError


def parse_task(spec: str) -> tuple[str, str, str]:
    parts = spec.split("/")
    if len(parts) != 3 or not all(parts):
        raise UserError(f"--task {spec!r}: write DAG/RUN/TASK, e.g. binlog_hourly/manual__2026-01-01T00:00:00+00:00/orders_binlogs")
    return parts[0], parts[1], parts[2]


def _client(env: Environment):
    from google.cloud import storage

    if env.runtime == "local":
        from google.auth.credentials import AnonymousCredentials

        return storage.Client(
            project="local", credentials=AnonymousCredentials(),
            client_options={"api_endpoint": f"http://127.0.0.1:{env.local.gcs_port}"},
        )
    assert env.gcp is not None
    return storage.Client(project=env.gcp.project_id)


def _line(raw: str) -> str:
    try:
        record = json.loads(raw)
    except ValueError:
        return raw
    if not isinstance(record, dict) or "event" not in record:
        return raw
    when = str(record.get("timestamp", ""))[:23].replace("T", " ")
    source = f" {record['logger']}:" if record.get("logger") else ""
    return f"{when} {str(record.get('level', '')).upper():<7}{source} {record['event']}"


def print_task_log(env: Environment, spec: str) -> int:
    dag_id, run_id, task_id = parse_task(spec)
    bucket = naming.task_logs_bucket(env)
    prefix = f"{TASK_LOG_FOLDER}/dag_id={dag_id}/run_id={run_id}/task_id={task_id}/"
    where = f"gs://{bucket}/{prefix}"
    try:
        from google.cloud.storage.retry import DEFAULT_RETRY

        retry = DEFAULT_RETRY.with_timeout(15.0)  # the default retries a refused connection for 2 minutes
        blobs = sorted(_client(env).list_blobs(bucket, prefix=prefix, retry=retry, timeout=15), key=lambda b: b.name)
        texts = [(b.name, b.download_as_text(retry=retry, timeout=30)) for b in blobs]
    except Exception as exc:  # refused, no credentials, no bucket: one line, what to do
        hint = f"is the platform running? `invoke deploy {env.name}`" if env.runtime == "local" else "run `gcloud auth application-default login`"
        raise UserError(f"cannot read {where}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]} ({hint})") from None
    if not texts:
        raise UserError(f"no log in {where}: check DAG/RUN/TASK (run ids as the UI shows them) and that the task has run")
    for name, text in texts:
        print(f"=== gs://{bucket}/{name}")
        for raw in text.splitlines():
            if raw.strip():
                print(_line(raw))
    return 0
