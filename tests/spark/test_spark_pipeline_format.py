"""The `jobs:` kind: same file:line:col validation as tables, and the DAG a Spark pipeline becomes."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from platform_dags.factory import PipelineError, build_dag, load_pipeline

HEAD = "schedule: null\nowner: ml\n"


def problems(tmp_path: Path, text: str, scripts: tuple[str, ...] = ("spark/a.py", "spark/b.py")) -> list[str]:
    (tmp_path / "pipelines").mkdir(exist_ok=True)
    for script in scripts:
        (tmp_path / script).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / script).write_text("print('job')\n")
    path = tmp_path / "pipelines" / "p.yaml"
    path.write_text(text)
    with pytest.raises(PipelineError) as info:
        load_pipeline(path, shown_as="p.yaml")
    return [str(p) for p in info.value.problems]


def test_a_file_with_both_tables_and_jobs_is_one_problem(tmp_path):
    text = HEAD + "tables: []\njobs: []\n"
    assert problems(tmp_path, text) == ["p.yaml:4:1: jobs: a pipeline has one of tables, jobs, transfers, not several (found tables, jobs)"]


def test_a_file_with_neither_kind_is_one_problem(tmp_path):
    assert problems(tmp_path, HEAD) == ["p.yaml:1:1: a pipeline needs one of the keys tables, jobs, transfers (what it runs)"]


def test_unknown_dependency_points_at_the_entry_with_a_hint(tmp_path):
    text = HEAD + "jobs:\n  - {name: alpha, script: spark/a.py}\n  - name: beta\n    script: spark/b.py\n    depends_on: [alpah]\n"
    assert problems(tmp_path, text) == ["p.yaml:7:18: jobs[1].depends_on: unknown job 'alpah' (did you mean 'alpha'?)"]


def test_a_cycle_between_jobs_is_named_in_run_order(tmp_path):
    text = HEAD + "jobs:\n  - {name: a, script: spark/a.py, depends_on: [b]}\n  - {name: b, script: spark/b.py, depends_on: [a]}\n"
    assert problems(tmp_path, text) == ["p.yaml:5:48: cycle: a -> b -> a"]


def test_a_script_missing_from_the_dag_repository_is_reported_at_its_key(tmp_path):
    text = HEAD + "jobs:\n  - name: alpha\n    script: spark/nope.py\n"
    assert problems(tmp_path, text) == ["p.yaml:5:13: jobs[0].script: 'spark/nope.py' not found in the DAG repository (" + tmp_path.name + "/)"]


def test_a_script_outside_the_repository_is_refused(tmp_path):
    text = HEAD + "jobs:\n  - name: alpha\n    script: ../elsewhere.py\n"
    assert problems(tmp_path, text) == [
        "p.yaml:5:13: jobs[0].script: '../elsewhere.py' must be a .py path inside the DAG repository, like spark/features.py"
    ]


def test_unknown_job_key_and_bad_resources_are_reported_together(tmp_path):
    text = HEAD + "jobs:\n  - name: alpha\n    script: spark/a.py\n    arsg: []\n    resources: {executor_cores: 3}\n"
    assert problems(tmp_path, text) == [
        "p.yaml:6:5: jobs[0]: unknown key 'arsg' (did you mean 'args'?)",
        "p.yaml:7:33: jobs[0].resources.executor_cores: must be 4, 8 or 16, got 3",
    ]


def test_recommendations_scores_after_the_three_feature_jobs_with_retries_and_a_page(dags_folder, monkeypatch, spark_local):
    monkeypatch.setenv("AIRFLOW__PLATFORM__PAGERDUTY_CONN_ID", "pagerduty_{service}")
    dag = build_dag(load_pipeline(dags_folder / "pipelines" / "recommendations.yaml"))
    assert set(dag.task_dict) == {"member_activity", "group_popularity", "event_attendance", "score"}
    assert dag.task_dict["score"].upstream_task_ids == {"member_activity", "group_popularity", "event_attendance"}
    assert all(not dag.task_dict[f].upstream_task_ids for f in ("member_activity", "group_popularity", "event_attendance"))
    score = dag.task_dict["score"]
    assert score.retries == 2 and score.retry_delay == timedelta(minutes=5)
    assert any("TaskFailurePager" in repr(cb) for cb in score.on_failure_callback), "pages after the last retry"
    # Locally the script is read from the DAG repository on disk, and Spark stays on loopback.
    assert Path(score.application) == dags_folder / "spark" / "score_recommendations.py"
    assert Path(score.application).is_file()
    assert score.conf["spark.driver.bindAddress"] == "127.0.0.1" and score.conf["spark.ui.enabled"] == "false"
