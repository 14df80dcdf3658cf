"""The EMR path: against moto's EMR Serverless (it runs each job to SUCCESS), the application, role and
entry point that arrive are the ones the environment's connection and the DAG repository name."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.integration

ROLE = "arn:aws:iam::123456789012:role/emr-spark-runtime"
SCRIPTS = "s3://acme-dags/repo"


@pytest.fixture
def emr(monkeypatch):
    import boto3
    from moto import mock_aws

    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "eu-west-1"}.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        client = boto3.client("emr-serverless", region_name="eu-west-1")
        app = client.create_application(name="spark", releaseLabel="emr-7.1.0", type="SPARK")["applicationId"]
        yield client, app


def test_recommendations_start_emr_serverless_job_runs_with_the_connections_application_and_role(
    emr, monkeypatch, airflow_db, run_dag, dags_folder, tmp_path
):
    from platform_dags.factory import build_dag, load_pipeline

    client, app = emr
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(tmp_path))
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", "postgres://etl@warehouse.internal:5432/warehouse")
    extra = {"application_id": app, "execution_role_arn": ROLE, "region_name": "eu-west-1"}
    monkeypatch.setenv("AIRFLOW_CONN_EMR_SPARK", json.dumps({"conn_type": "aws", "extra": extra}))
    # What infra.airflow_config renders for `spark: {target: emr, emr: {conn_id: emr_spark, scripts_uri: ...}}`.
    from infra.airflow_config import _spark_keys
    from infra.config import parse_environment

    env = parse_environment("aws", {"runtime": "local", "spark": {"target": "emr", "emr": {"scripts_uri": SCRIPTS}, "jars": ["jars/postgresql.jar"]}}, "aws.yaml")
    for key, value in {**_spark_keys(env), "spark_poll_seconds": "1"}.items():
        monkeypatch.setenv(f"AIRFLOW__PLATFORM__{key.upper()}", value)

    dag = build_dag(load_pipeline(dags_folder / "pipelines" / "recommendations.yaml"))
    for task in dag.tasks:
        task.retries = 0  # a failure is the test's failure, not a retry wait
    run = run_dag(dag)
    assert str(run.state) == "success"

    runs = [client.get_job_run(applicationId=app, jobRunId=r["id"])["jobRun"] for r in client.list_job_runs(applicationId=app)["jobRuns"]]
    assert len(runs) == 4 and {r["state"] for r in runs} == {"SUCCESS"}
    by_entry = {r["jobDriver"]["sparkSubmit"]["entryPoint"]: r for r in runs}
    assert set(by_entry) == {f"{SCRIPTS}/spark/{name}.py" for name in ("member_activity", "group_popularity", "event_attendance", "score_recommendations")}
    for r in runs:
        assert r["applicationId"] == app and r["executionRole"] == ROLE
        assert f"--jars {SCRIPTS}/jars/postgresql.jar" in r["jobDriver"]["sparkSubmit"]["sparkSubmitParameters"]
    score = by_entry[f"{SCRIPTS}/spark/score_recommendations.py"]["jobDriver"]["sparkSubmit"]["entryPointArguments"]
    assert score == ["--jdbc-url", "jdbc:postgresql://warehouse.internal:5432/warehouse?user=etl", "--output", "meetup.recommended_groups", "--top", "3"]
