"""Object storage on the local platform: the S3 and GCS endpoints run supervised, the example hourly
transfer copies the seeded binlogs, and task logs live in the GCS endpoint's task-logs bucket (read
through the REST API after the local file is gone, and by `invoke logs local --task`)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import urllib.parse
import urllib.request

import pytest

from infra import naming
from infra.airflow_config import build
from infra.local import storage
from infra.task_logs import print_task_log
from platform_kit import Platform, wait_for, write_env

pytestmark = pytest.mark.integration


def _gcs(platform: Platform):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage as gcs

    return gcs.Client(project="local", credentials=AnonymousCredentials(),
                      client_options={"api_endpoint": f"http://127.0.0.1:{platform.env.local.gcs_port}"})


def test_the_hourly_transfer_runs_and_its_task_log_outlives_the_local_file(tmp_path, capsys):
    platform = Platform(write_env(tmp_path))
    try:
        assert platform.deploy() == 0
        dag = "binlog_hourly"
        wait_for(lambda: platform.sql("SELECT 1 FROM dag WHERE dag_id = %s", dag), 180, f"{dag} to be parsed")
        platform.call("PATCH", f"/dags/{dag}", {"is_paused": False})
        run_id = platform.call("POST", f"/dags/{dag}/dagRuns", {"logical_date": None})["dag_run_id"]
        wait_for(lambda: platform.sql("SELECT 1 FROM dag_run WHERE run_id = %s AND state IN ('success', 'failed')", run_id),
                 300, f"{run_id} to finish")
        states = dict(platform.sql("SELECT task_id, state FROM task_instance WHERE run_id = %s", run_id))
        assert states == {"orders_binlogs": "success", "users_binlogs": "success"}, states

        # Every seeded binlog file is in the mirror, intact.
        mirror = {b.name: b for b in _gcs(platform).list_blobs("binlog-mirror", prefix="mysql/orders/")}
        assert len(mirror) == storage.SAMPLE_FILES
        blob = mirror["mysql/orders/mysql-bin.000001"]
        assert blob.download_as_bytes() == storage.sample_binlog("orders/", 1)

        # The log is in the task-logs bucket; without the local copy the API still serves it.
        local_logs = build(platform.env).get("logging", "base_log_folder")
        task_dir = os.path.join(local_logs, f"dag_id={dag}", f"run_id={run_id}", "task_id=orders_binlogs")
        wait_for(lambda: list(_gcs(platform).list_blobs(naming.task_logs_bucket(platform.env),
                                                        prefix=f"tasks/dag_id={dag}/run_id={run_id}/task_id=orders_binlogs/")),
                 60, "the task log to be uploaded")
        shutil.rmtree(task_dir, ignore_errors=True)
        assert not os.path.exists(task_dir)
        quoted = urllib.parse.quote(run_id, safe="")
        request = urllib.request.Request(
            f"{platform.api}/api/v2/dags/{dag}/dagRuns/{quoted}/taskInstances/orders_binlogs/logs/1",
            headers={"Authorization": f"Bearer {platform.token()}", "Accept": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            content = json.dumps(json.loads(response.read()))
        # (unpausing also starts the latest hourly run, so this run may find everything copied already)
        assert f"{storage.SAMPLE_FILES} objects under s3://mysql-binlogs/orders/" in content

        # And the CLI prints it from the bucket.
        capsys.readouterr()
        assert print_task_log(platform.env, f"{dag}/{run_id}/orders_binlogs") == 0
        out = capsys.readouterr().out
        assert f"gs://{naming.task_logs_bucket(platform.env)}/tasks/dag_id={dag}/" in out
        assert f"{storage.SAMPLE_FILES} objects under s3://mysql-binlogs/orders/" in out

        # A restarted S3 endpoint (moto keeps nothing) is seeded again; the next run copies nothing new.
        os.killpg(platform.pid("s3"), signal.SIGKILL)
        wait_for(lambda: platform.restarts("s3") >= 1 and storage.probe(f"http://127.0.0.1:{platform.env.local.s3_port}/") == 0,
                 120, "the supervisor to restart the S3 endpoint")
        s3 = storage.s3_client(f"http://127.0.0.1:{platform.env.local.s3_port}")
        wait_for(lambda: s3.list_objects_v2(Bucket="mysql-binlogs", Prefix="orders/").get("KeyCount") == storage.SAMPLE_FILES,
                 60, "the sample files to be seeded again")
    finally:
        platform.destroy()
