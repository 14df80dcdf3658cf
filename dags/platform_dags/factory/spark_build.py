"""Turn a validated `jobs:` pipeline into an Airflow DAG: one task per Spark job, where the environment says.

`[platform] spark_target` (rendered by the toolkit from the environment's `spark:` section) picks the
operator, so the same file runs on a laptop, on GCP and on AWS:

* `local`: `SparkSubmitOperator` with the `spark_conn_id` connection (master `local[N]`), spark-submit
  from the installed pyspark wheel, the script read from the DAG repository on disk.
* `dataproc`: `DataprocCreateBatchOperator`, a Dataproc Serverless batch running as the environment's
  Spark service account in its subnetwork, staging in its bucket, the script at
  `<spark_scripts_uri>/<script>` (the DAG repository synced to the staging bucket).
* `emr`: `EmrServerlessStartJobOperator`, the application id and execution role read from the extra of
  the `spark_emr_conn_id` AWS connection when the task runs, the script at `<spark_scripts_uri>/<script>`.

Retries, PagerDuty after the last retry and the Slack run story come from the same `default_args` and
callbacks as table pipelines. Operators are built here but import their providers only for the target.
"""

from __future__ import annotations

import hashlib
import os
import re
from datetime import timedelta

from platform_dags.factory.spark import repository_of

TARGETS = ("local", "dataproc", "emr")


def jdbc_url(conn_id: str) -> str:
    """`jdbc:postgresql://host:port/db?user=...` for a PostgreSQL connection (the `jdbc_url` macro)."""
    from urllib.parse import quote

    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    query = [f"user={quote(conn.login or '')}"] if conn.login else []
    if conn.password:
        query.append(f"password={quote(conn.password)}")  # masked in task logs: Airflow masks connection passwords
    return f"jdbc:postgresql://{conn.host}:{conn.port or 5432}/{conn.schema}" + ("?" + "&".join(query) if query else "")


def batch_suffix(run_id: str, try_number: int) -> str:
    """Ten hex characters of the run plus the try: a Dataproc batch id is unique per attempt."""
    return f"{hashlib.sha1(run_id.encode()).hexdigest()[:10]}-{try_number}"


def _batch_prefix(dag_id: str, job: str) -> str:
    # Dataproc batch ids: 4-63 of [a-z0-9-], starting with a letter; the suffix takes 13 of them.
    base = re.sub(r"[^a-z0-9]+", "-", f"{dag_id}-{job}".lower()).strip("-")
    return ("b-" + base if not base[:1].isalpha() else base)[:48].rstrip("-")


def spark_home_bin() -> str:
    """The `bin/` folder of the installed pyspark wheel, which holds spark-submit."""
    import pyspark

    return os.path.join(os.path.dirname(pyspark.__file__), "bin")


def build_spark_dag(pipeline):
    """The DAG for a validated SparkPipeline."""
    from platform_dags import setting
    from platform_dags.factory.build import new_dag

    target = setting("spark_target") or "local"
    if target not in TARGETS:
        raise ValueError(f"[platform] spark_target must be one of {', '.join(TARGETS)}, got {target!r}")
    dag = new_dag(pipeline, story="jobs", tags=("spark",), macros={"jdbc_url": jdbc_url, "batch_suffix": batch_suffix})
    make = {"local": _local_task, "dataproc": _dataproc_task, "emr": _emr_task}[target]
    jars = [j for j in setting("spark_jars").split(",") if j]
    tasks = {}
    with dag:
        for job in pipeline.jobs:
            tasks[job.name] = make(pipeline, job, jars)
        for job in pipeline.jobs:
            if job.depends_on:
                tasks[job.name].set_upstream([tasks[dep] for dep in job.depends_on])
    return dag


def _local_task(pipeline, job, jars):
    from platform_dags import setting
    from platform_dags.factory.spark_local import LocalSparkSubmitOperator

    repo = repository_of(pipeline)
    conf = {
        # Local Spark binds its driver, block manager and UI to every interface by default; keep it on
        # loopback, and without the UI (its port 4040+ would clash between parallel jobs and platforms).
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.ui.enabled": "false",
        **job.conf,
    }
    return LocalSparkSubmitOperator(
        task_id=job.name,
        application=str(repo / job.script) if repo else job.script,
        application_args=list(job.args),
        conn_id=setting("spark_conn_id") or "spark_local",
        conf=conf,
        jars=",".join(jars) or None,
        driver_memory=job.resources.driver_memory,
        name=f"{pipeline.name}.{job.name}",
    )


def _spark_properties(job) -> dict[str, str]:
    r = job.resources
    return {
        "spark.driver.memory": r.driver_memory,
        "spark.executor.memory": r.executor_memory,
        "spark.executor.cores": str(r.executor_cores),
        "spark.executor.instances": str(r.executors),
        **job.conf,
    }


def _dataproc_task(pipeline, job, jars):
    from airflow.providers.google.cloud.operators.dataproc import DataprocCreateBatchOperator

    from platform_dags import setting

    batch = {
        "pyspark_batch": {
            "main_python_file_uri": f"{setting('spark_scripts_uri').rstrip('/')}/{job.script}",
            "args": list(job.args),
            "jar_file_uris": jars,
        },
        "runtime_config": {"version": setting("spark_runtime_version"), "properties": _spark_properties(job)},
        "environment_config": {
            "execution_config": {
                "service_account": setting("spark_service_account"),
                "subnetwork_uri": setting("spark_subnetwork_uri"),
                "staging_bucket": setting("spark_staging_bucket"),
            }
        },
        "labels": {"airflow-dag": _label(pipeline.name), "airflow-task": _label(job.name)},
    }
    return DataprocCreateBatchOperator(
        task_id=job.name,
        project_id=setting("spark_project_id"),
        region=setting("spark_region"),
        batch=batch,
        batch_id=_batch_prefix(pipeline.name, job.name) + "-{{ batch_suffix(run_id, ti.try_number) }}",
        polling_interval_seconds=int(setting("spark_poll_seconds") or 30),
    )


def _label(value: str) -> str:
    return re.sub(r"[^a-z0-9_-]", "-", value.lower())[:63]


def _emr_task(pipeline, job, jars):
    from airflow.providers.amazon.aws.operators.emr import EmrServerlessStartJobOperator

    from platform_dags import setting

    conn_id = setting("spark_emr_conn_id") or "emr_spark"
    params = [f"--conf {key}={value}" for key, value in _spark_properties(job).items()]
    if jars:
        params.insert(0, f"--jars {','.join(jars)}")
    extra = f"conn.get({conn_id!r}).extra_dejson"
    return EmrServerlessStartJobOperator(
        task_id=job.name,
        # Read when the task runs: the application and role live in the connection, not in the DAG.
        application_id="{{ " + extra + ".application_id }}",
        execution_role_arn="{{ " + extra + ".execution_role_arn }}",
        job_driver={
            "sparkSubmit": {
                "entryPoint": f"{setting('spark_scripts_uri').rstrip('/')}/{job.script}",
                "entryPointArguments": list(job.args),
                "sparkSubmitParameters": " ".join(params),
            }
        },
        configuration_overrides={},
        aws_conn_id=conn_id,
        name=f"{pipeline.name}.{job.name}",
        wait_for_completion=True,
        waiter_delay=int(setting("spark_poll_seconds") or 30),
        waiter_max_attempts=int(timedelta(minutes=pipeline.defaults.execution_timeout_minutes).total_seconds() // int(setting("spark_poll_seconds") or 30)) + 1,
    )
