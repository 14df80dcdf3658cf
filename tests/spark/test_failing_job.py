"""A Spark job that fails for real: it retries, pages once after the last try, and scoring never starts."""

from __future__ import annotations

import textwrap

import pytest

pytestmark = pytest.mark.integration

PIPELINE = """\
name: spark_failing
schedule: null
owner: ml-platform
alerts: {slack_channel: "#ml", pagerduty_service: test}
defaults: {retries: 1, retry_delay_minutes: 0.02, retry_exponential_backoff: false}
jobs:
  - name: broken_feature
    script: spark/broken_feature.py
    args: [--jdbc-url, "{{ jdbc_url('warehouse') }}"]
    conf: {spark.sql.shuffle.partitions: "2"}
    resources: {driver_memory: 512m}
  - name: score
    script: spark/never.py
    depends_on: [broken_feature]
"""

# Real Spark, failing the way a job does: its input table does not exist in the warehouse.
BROKEN = """\
import argparse
from pyspark.sql import SparkSession
parser = argparse.ArgumentParser()
parser.add_argument("--jdbc-url", required=True)
url = parser.parse_args().jdbc_url
spark = SparkSession.builder.getOrCreate()
spark.read.format("jdbc").option("url", url).option("dbtable", "meetup.no_such_table").load().count()
"""


@pytest.fixture
def failing_pipeline(tmp_path, warehouse, spark_local, monkeypatch, slack_receiver, pagerduty_receiver):
    monkeypatch.setenv("AIRFLOW__PLATFORM__SLACK_CONN_ID", "slack_test")
    monkeypatch.setenv("AIRFLOW__PLATFORM__PAGERDUTY_CONN_ID", "pagerduty_{service}")
    repo = tmp_path / "repo"
    (repo / "pipelines").mkdir(parents=True)
    (repo / "spark").mkdir()
    (repo / "pipelines" / "spark_failing.yaml").write_text(PIPELINE)
    (repo / "spark" / "broken_feature.py").write_text(BROKEN)
    (repo / "spark" / "never.py").write_text(textwrap.dedent("raise SystemExit('scoring must not run')\n"))
    return repo


def test_a_failing_feature_job_retries_pages_once_and_scoring_never_starts(failing_pipeline, run_dag, slack_receiver, pagerduty_receiver):
    from platform_dags.factory import load_dags

    dag = load_dags(failing_pipeline / "pipelines")["spark_failing"]
    run = run_dag(dag)
    assert str(run.state) == "failed"
    states = {ti.task_id: (str(ti.state), ti.try_number) for ti in run.get_task_instances()}
    assert states["broken_feature"] == ("failed", 2), "one try plus one retry"
    assert states["score"][0] == "upstream_failed", "scoring never starts"

    triggers = [r["json"] for r in pagerduty_receiver.requests if r["json"].get("event_action") == "trigger"]
    assert len(triggers) == 1, f"one page after the last retry, got {len(triggers)}"
    assert triggers[0]["dedup_key"] == "airflow/spark_failing/broken_feature"
    texts = [r["json"]["text"] for r in slack_receiver.requests]
    assert any("retry" in t.lower() and "broken_feature" in t for t in texts), texts
