"""End to end: the shipped meetup_nightly.yaml, built by the factory, loads and transforms real rows."""

from __future__ import annotations

from decimal import Decimal

import psycopg2
import pytest

from platform_dags.sample_data import COUNTS

pytestmark = pytest.mark.integration


def query(uri: str, sql: str) -> list[tuple]:
    with psycopg2.connect(uri) as conn, conn.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchall()


# The attendance figures computed straight from the source, a different query from the pipeline's.
EXPECTED_ATTENDANCE = """
    WITH per_event AS (
        SELECT e.group_id,
               (SELECT count(*) + coalesce(sum(r.guests), 0) FROM rsvps r
                WHERE r.event_id = e.id AND r.response = 'yes') AS people
        FROM events e)
    SELECT g.id, g.name, count(*)::bigint, sum(people)::numeric, round(avg(people), 2)
    FROM per_event p JOIN groups g ON g.id = p.group_id
    GROUP BY g.id, g.name ORDER BY g.id
"""


@pytest.fixture
def platform(etl_databases, monkeypatch, slack_receiver, pagerduty_receiver):
    monkeypatch.setenv("AIRFLOW__PLATFORM__SLACK_CONN_ID", "slack_test")
    monkeypatch.setenv("AIRFLOW__PLATFORM__PAGERDUTY_CONN_ID", "pagerduty_test")
    return etl_databases


def test_meetup_nightly_from_yaml_moves_and_transforms_the_sample_data(platform, slack_receiver, pagerduty_receiver, run_dag, dags_folder):
    from platform_dags.factory import load_dags

    source, warehouse = platform
    dag = load_dags(dags_folder / "pipelines")["meetup_nightly"]
    run = run_dag(dag)
    assert str(run.state) == "success"

    assert query(warehouse, "SELECT * FROM meetup.groups ORDER BY id") == query(source, "SELECT * FROM groups ORDER BY id")
    assert query(warehouse, "SELECT * FROM meetup.events ORDER BY id") == query(source, "SELECT * FROM events ORDER BY id")
    assert query(warehouse, "SELECT count(*) FROM meetup.rsvps") == [(COUNTS["rsvps"],)]  # 4 batches of 1,000
    # The members transform keeps e-mail addresses out of the warehouse.
    assert query(warehouse, "SELECT column_name FROM information_schema.columns WHERE table_schema = 'meetup'"
                            " AND table_name = 'members' ORDER BY ordinal_position") == [("id",), ("name",), ("city",), ("joined_on",)]
    assert query(warehouse, "SELECT id, name, city, joined_on FROM meetup.members ORDER BY id") == query(
        source, "SELECT id, name, city, joined_on FROM members ORDER BY id"
    )

    attendance = query(warehouse, "SELECT group_id, group_name, events, attendees, avg_attendance FROM meetup.group_attendance ORDER BY group_id")
    expected = query(source, EXPECTED_ATTENDANCE)
    assert [(a, b, int(c), Decimal(d), Decimal(e)) for a, b, c, d, e in attendance] == [
        (a, b, int(c), Decimal(d), Decimal(e)) for a, b, c, d, e in expected
    ]
    assert sum(row[3] for row in attendance) > 2000

    texts = slack_receiver.texts()
    assert len(texts) == 2, texts
    assert "meetup_nightly started (5 tables)" in texts[0]
    assert "5/5 tables done, 0 failed" in texts[1]
    assert pagerduty_receiver.requests == []
