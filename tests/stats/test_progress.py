"""`invoke progress`: per table of a run in progress, its state, and the time left from 30-day averages."""

from __future__ import annotations

import io
import statistics
from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from rich.console import Console

import seed
from infra.progress import follow, polled, snapshot


def average(runs, task_id, since) -> float:
    """Mean duration of the task's finished instances in the window, from the seed list."""
    return statistics.fmean(
        (t.end - t.start).total_seconds()
        for r in runs
        if r.run_after >= since
        for t in r.tasks
        if t.task_id == task_id and t.state in ("success", "failed")
    )


def test_progress_of_the_latest_run_shows_each_table_and_the_time_left(seeded):
    with psycopg.connect(seeded.uri) as conn:
        snap = snapshot(conn, "local", "stats_etl", None)
    now = datetime.now(timezone.utc)
    assert snap.run_id == "manual__in_progress" and snap.run_state == "running"
    tables = {t.name: t for t in snap.tables}
    assert {n: (t.state, t.done, t.total) for n, t in tables.items()} == {
        "customers": ("running", 1, 3),
        "orders": ("done", 3, 3),
        "products": ("waiting", 0, 3),
    }
    assert tables["orders"].seconds == pytest.approx(170)  # first start to last end: 2 × 60 s + 50 s
    since = seeded.now - timedelta(days=30)
    products = sum(average(seeded.etl, f"products.{s}", since) for s in ("extract", "transform", "publish"))
    assert tables["products"].left_seconds == pytest.approx(products)
    # customers: what its transform has left after running since 20 s before seeding, then its publish.
    running_for = (now - (seeded.now - timedelta(seconds=20))).total_seconds()
    customers = max(average(seeded.etl, "customers.transform", since) - running_for, 0) + average(
        seeded.etl, "customers.publish", since
    )
    assert customers - 5 <= tables["customers"].left_seconds <= customers + 30
    assert snap.left_seconds == max(t.left_seconds for t in snap.tables)


def test_progress_of_a_given_finished_run_has_nothing_left(seeded):
    finished = seeded.etl[-2]
    with psycopg.connect(seeded.uri) as conn:
        snap = snapshot(conn, "local", "stats_etl", finished.run_id)
    assert snap.run_state == finished.state and snap.finished and snap.left_seconds == 0
    assert snap.elapsed_seconds == pytest.approx((finished.end - finished.start).total_seconds())


def test_progress_cli_prints_the_table_and_estimate(seeded, invoke):
    result = invoke("progress", "local", "stats_etl")
    assert result.returncode == 0, result.stderr
    for text in ("manual__in_progress", "customers", "running", "waiting", "about", "left", "tasks done"):
        assert text in result.stdout, text


def test_progress_of_an_unknown_run_is_one_line(seeded, invoke):
    result = invoke("progress", "local", "stats_etl", "--run", "nope")
    assert result.returncode == 1
    assert result.stderr.strip() == "error: stats_etl has no run 'nope' in the metadata database of local: trigger one first"


@pytest.fixture
def watched_run(seeded, register_dag):
    """A running run of its own DAG (so flipping its state leaves the other tests' data alone)."""
    dag = seed.etl_dag("stats_watch", ("items",))
    register_dag(dag)
    now = datetime.now(timezone.utc)
    tasks = [seed.SeedTask("items.extract", "running", now - timedelta(seconds=3), now - timedelta(seconds=2))]
    tasks += [seed.SeedTask(f"items.{s}", None, try_number=0) for s in ("transform", "publish")]
    run_id = f"manual__{now:%H%M%S%f}"
    seed.write(dag, [seed.SeedRun("stats_watch", run_id, now, "running", now - timedelta(seconds=3), None, tasks)])
    return run_id


@pytest.mark.parametrize("final, code", [("failed", 1), ("success", 0)])
def test_watch_refreshes_until_the_run_ends_and_exits_by_its_state(seeded, watched_run, final, code):
    taken = []
    with psycopg.connect(seeded.uri) as reader, psycopg.connect(seeded.uri, autocommit=True) as writer:

        def take():
            snap = snapshot(reader, "local", "stats_watch", watched_run)
            taken.append(snap.run_state)
            if len(taken) == 2:  # the run ends while being watched
                writer.execute(
                    "UPDATE dag_run SET state = %s, end_date = now() WHERE dag_id = 'stats_watch' AND run_id = %s",
                    (final, watched_run),
                )
            return snap

        out = io.StringIO()
        assert follow(polled(take, True, 0.01), watch=True, console=Console(file=out, width=120)) == code
    assert taken == ["running", "running", final]
    assert "items" in out.getvalue()
