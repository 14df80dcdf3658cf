"""`transfers:` pipeline files: validation at file:line:col, the DAG they build, dags.validate and dags.graph."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from infra import dagtools
from infra.local import storage
from platform_dags.factory import PipelineError, build_dag, load_pipeline

ROOT = Path(__file__).resolve().parents[2]
BAD = Path(__file__).parent / "bad_pipelines"
EXAMPLE = ROOT / "dags" / "pipelines" / "binlog_hourly.yaml"
SVG = "{http://www.w3.org/2000/svg}"


def _expected(path: Path) -> str:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name}: first line must state the expected report"
    return f"{path.name}:{first.removeprefix('# expect: ')}"


@pytest.mark.parametrize("path", sorted(BAD.glob("*.yaml")), ids=lambda p: p.stem)
def test_bad_transfer_file_is_reported_at_its_line_and_column(path):
    with pytest.raises(PipelineError) as info:
        load_pipeline(path, shown_as=path.name)
    assert [str(p) for p in info.value.problems] == [_expected(path)]


def test_the_example_is_hourly_one_task_per_transfer_with_retries_and_alerts():
    pipeline = load_pipeline(EXAMPLE)
    dag = build_dag(pipeline)
    assert dag.dag_id == "binlog_hourly" and pipeline.schedule == "@hourly"
    assert sorted(dag.task_ids) == sorted(t.name for t in pipeline.transfers)
    task = dag.get_task("orders_binlogs")
    assert (task.source, task.destination) == ("s3://mysql-binlogs/orders/", "gs://binlog-mirror/mysql/orders/")
    assert task.retries == pipeline.defaults.retries == 2
    assert dag.max_active_runs == 1  # an hourly copy never overlaps the previous one


def test_the_local_platform_seeds_what_the_example_copies():
    pairs = storage.transfer_urls(EXAMPLE.parent)
    assert set(pairs) == {(t.source, t.destination) for t in load_pipeline(EXAMPLE).transfers}


def test_graph_draws_source_task_and_destination_per_transfer(tmp_path):
    out = tmp_path / "binlog.svg"
    assert dagtools.graph(str(EXAMPLE), out=str(out)) == 0
    root = ET.parse(out).getroot()
    tasks = {g.get("id") for g in root.iter(f"{SVG}g") if g.get("class") == "transfer"}
    assert tasks == {"transfer-orders_binlogs", "transfer-users_binlogs"}
    arrows = {(p.get("data-from"), p.get("data-to")) for p in root.iter(f"{SVG}path") if p.get("class") == "copy"}
    assert ("s3://mysql-binlogs/orders/", "orders_binlogs") in arrows
    assert ("orders_binlogs", "gs://binlog-mirror/mysql/orders/") in arrows
    mermaid = out.with_suffix(".mmd").read_text()
    assert 't_users_binlogs(["users_binlogs"]) --> d1["gs://binlog-mirror/mysql/users/"]' in mermaid


def test_dags_validate_counts_transfers_and_reports_a_bad_one(tmp_path, capsys):
    folder = tmp_path / "dags"
    (folder / "pipelines").mkdir(parents=True)
    (folder / "pipelines_loader.py").write_text((ROOT / "dags" / "pipelines_loader.py").read_text())
    (folder / "pipelines" / "copy.yaml").write_text(EXAMPLE.read_text().replace("name: binlog_hourly\n", ""))
    assert dagtools.validate(str(folder)) == 0
    assert "(0 tables, 2 transfers)" in capsys.readouterr().out
    (folder / "pipelines" / "broken.yaml").write_text((BAD / "bad_scheme.yaml").read_text())
    assert dagtools.validate(str(folder)) == 1
    assert "broken.yaml:6:13: transfers[0].source: must start with s3://" in capsys.readouterr().out


def test_logs_task_takes_dag_run_task_and_says_so_otherwise():
    from infra.config import load_environment
    from infra.errors import UserError
    from infra.task_logs import print_task_log

    with pytest.raises(UserError, match=r"--task 'binlog_hourly/orders': write DAG/RUN/TASK"):
        print_task_log(load_environment("local"), "binlog_hourly/orders")


def test_logs_task_names_the_bucket_when_the_endpoint_is_down(tmp_path, free_port):
    from infra.config import parse_environment
    from infra.errors import UserError
    from infra.task_logs import print_task_log

    env = parse_environment("local", {"runtime": "local", "local": {"gcs_port": free_port()}}, "local.yaml")
    with pytest.raises(UserError) as info:
        print_task_log(env, "binlog_hourly/manual__1/orders_binlogs")
    message = str(info.value)
    assert message.startswith("cannot read gs://af-local-task-logs/tasks/dag_id=binlog_hourly/run_id=manual__1/task_id=orders_binlogs/")
    assert "invoke deploy local" in message and "\n" not in message
