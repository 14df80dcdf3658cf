"""`invoke stats local`: the numbers it prints equal those computed here from the seed list itself."""

from __future__ import annotations

import csv
import io
import json
import statistics
import xml.etree.ElementTree as ET
from collections import defaultdict
from datetime import timedelta

import pytest

FINISHED = ("success", "failed")


def _summary(items, state, start, end, queued, tries) -> dict:
    """Runs, success rate over finished, duration mean / p50 / p95 (linear interpolation), queued, retries."""
    finished = [i for i in items if state(i) in FINISHED]
    durations = [(end(i) - start(i)).total_seconds() for i in finished]
    cuts = statistics.quantiles(durations, n=100, method="inclusive") if len(durations) > 1 else None
    queued_waits = [(start(i) - queued(i)).total_seconds() for i in items if queued(i) and start(i)]
    return {
        "runs": len(items),
        "success_rate": sum(state(i) == "success" for i in finished) / len(finished) if finished else None,
        "avg_seconds": statistics.fmean(durations) if durations else None,
        "p50_seconds": cuts[49] if cuts else (durations[0] if durations else None),
        "p95_seconds": cuts[94] if cuts else (durations[0] if durations else None),
        "avg_queued_seconds": statistics.fmean(queued_waits) if queued_waits else None,
        "retries": sum(max(tries(i) - 1, 0) for i in items),
    }


def expected_tasks(runs, since) -> dict[str, dict]:
    by_task = defaultdict(list)
    for run in runs:
        if run.run_after >= since:
            for t in run.tasks:
                by_task[t.task_id].append(t)
    return {
        task_id: _summary(tis, lambda t: t.state, lambda t: t.start, lambda t: t.end, lambda t: t.queued, lambda t: t.try_number)
        for task_id, tis in by_task.items()
    }


def expected_dags(runs, since) -> dict[str, dict]:
    by_dag = defaultdict(list)
    for run in runs:
        if run.run_after >= since:
            by_dag[run.dag_id].append(run)
    result = {}
    for dag_id, dag_runs in by_dag.items():
        row = _summary(dag_runs, lambda r: r.state, lambda r: r.start, lambda r: r.end, lambda r: None, lambda r: 1)
        tis = [t for r in dag_runs for t in r.tasks]
        waits = [(t.start - t.queued).total_seconds() for t in tis if t.queued and t.start]
        row["avg_queued_seconds"] = statistics.fmean(waits)
        row["retries"] = sum(max(t.try_number - 1, 0) for t in tis)
        result[dag_id] = row
    return result


def _approx(row: dict) -> dict:
    return {k: (pytest.approx(v, rel=1e-9) if isinstance(v, float) else v) for k, v in row.items()}


def test_stats_json_per_task_equals_the_seed(seeded, invoke):
    result = invoke("stats", "local", "--dag", "stats_etl", "--days", "30", "--format", "json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    expected = expected_tasks(seeded.etl, seeded.now - timedelta(days=30))
    got = {row.pop("task_id"): row for row in report["rows"]}
    assert set(got) == set(expected)  # the 40-day-old run adds no task, the in-progress run's tasks count
    for task_id, row in expected.items():
        assert got[task_id] == _approx(row), task_id
    averages = [row["avg_seconds"] for row in report["rows"]]
    assert averages == sorted(averages, reverse=True), "slowest tasks first"


def test_stats_json_per_dag_equals_the_seed(seeded, invoke):
    result = invoke("stats", "local", "--days", "30", "--format", "json")
    assert result.returncode == 0, result.stderr
    got = {row.pop("dag_id"): row for row in json.loads(result.stdout)["rows"]}
    expected = expected_dags(seeded.all_runs, seeded.now - timedelta(days=30))
    for dag_id in ("stats_etl", "stats_other"):
        assert got[dag_id] == _approx(expected[dag_id]), dag_id
    assert got["stats_etl"]["runs"] == 13  # 12 days + the run in progress; not the 40-day-old one


def test_a_shorter_window_drops_older_runs(seeded, invoke):
    result = invoke("stats", "local", "--days", "3", "--format", "json")
    got = {row["dag_id"]: row for row in json.loads(result.stdout)["rows"]}
    expected = expected_dags(seeded.all_runs, seeded.now - timedelta(days=3))
    assert got["stats_etl"] == _approx({"dag_id": "stats_etl", **expected["stats_etl"]})


def test_stats_csv_has_the_same_numbers_as_json(seeded, invoke):
    as_json = json.loads(invoke("stats", "local", "--dag", "stats_etl", "--format", "json").stdout)["rows"]
    as_csv = list(csv.DictReader(io.StringIO(invoke("stats", "local", "--dag", "stats_etl", "--format", "csv").stdout)))
    assert [r["task_id"] for r in as_csv] == [r["task_id"] for r in as_json]
    for c, j in zip(as_csv, as_json):
        assert float(c["p95_seconds"]) == j["p95_seconds"] and int(c["retries"]) == j["retries"]


def test_stats_table_names_every_task(seeded, invoke):
    result = invoke("stats", "local", "--dag", "stats_etl")
    assert result.returncode == 0, result.stderr
    for task_id in ("orders.extract", "customers.transform", "products.publish"):
        assert task_id in result.stdout
    assert "last 30 days" in result.stdout


def test_plot_has_one_point_per_day_with_the_daily_percentiles(seeded, invoke, tmp_path):
    out = tmp_path / "trend.svg"
    result = invoke("stats", "local", "--dag", "stats_etl", "--plot", str(out), "--format", "json")
    assert result.returncode == 0, result.stderr
    since = seeded.now - timedelta(days=30)
    days = defaultdict(list)
    for run in seeded.etl:
        if run.run_after >= since and run.state in FINISHED:
            days[f"{run.run_after:%Y-%m-%d}"].append((run.end - run.start).total_seconds())
    root = ET.parse(out).getroot()
    ns = "{http://www.w3.org/2000/svg}"
    for series, q in (("p50", 49), ("p95", 94)):
        points = {c.get("data-day"): float(c.get("data-seconds")) for c in root.iter(f"{ns}circle") if c.get("class") == series}
        assert sorted(points) == sorted(days), series
        for day, durations in days.items():
            want = durations[0] if len(durations) == 1 else statistics.quantiles(durations, n=100, method="inclusive")[q]
            assert points[day] == pytest.approx(want), (series, day)


def test_unknown_dag_is_one_line_with_did_you_mean(seeded, invoke):
    result = invoke("stats", "local", "--dag", "stats_etk")
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: no DAG 'stats_etk' in the metadata database of local; did you mean stats_etl")


def test_bad_flags_are_one_line_before_any_connection(invoke, local_env):
    for args, message in ((("--format", "xml"), "--format must be one of table, json, csv"), (("--days", "0"), "--days must be 1 or more")):
        result = invoke("stats", "local", *args)
        assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1
        assert message in result.stderr


def test_unreachable_database_is_one_clear_line(invoke, local_env, tmp_path, free_port):
    (tmp_path / "local.yaml").write_text(f"runtime: local\nlocal:\n  postgres_port: {free_port()}\n")
    result = invoke("stats", "local", env={**local_env, "PLATFORM_ENVIRONMENTS_DIR": str(tmp_path)})
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert "cannot reach the local metadata database" in line and "invoke deploy local" in line


def test_the_session_is_read_only_with_a_statement_timeout(seeded):
    import psycopg

    from infra.stats import read_only_session

    with psycopg.connect(seeded.uri) as conn:
        read_only_session(conn)
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("DELETE FROM dag_run")
    with psycopg.connect(seeded.uri) as conn:
        read_only_session(conn, timeout_ms=50)
        with pytest.raises(psycopg.errors.QueryCanceled):
            conn.execute("SELECT pg_sleep(2)")


def test_a_known_dag_without_runs_in_the_window_is_an_empty_report_not_an_error(seeded, register_dag):
    import psycopg

    import seed
    from infra.stats import collect

    register_dag(seed.etl_dag("stats_never_ran", ("things",)))
    with psycopg.connect(seeded.uri) as conn:
        report = collect(conn, "local", dag_id="stats_never_ran", days=30, with_daily=True)
    assert report.rows == [] and report.daily == []
