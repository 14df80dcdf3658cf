"""The sample source database is deterministic, big enough to need batches, and consistent."""

from __future__ import annotations

import subprocess
import sys

import psycopg2
import pytest

from platform_dags.sample_data import generate, load_sample_source


def test_same_seed_same_rows_other_seed_other_rows():
    assert generate() == generate()
    assert generate(seed=1)["rsvps"] != generate()["rsvps"]


def test_at_least_5000_rows_that_reference_each_other():
    data = generate()
    assert sum(len(rows) for rows in data.values()) >= 5000
    groups = {g[0] for g in data["groups"]}
    members = {m[0] for m in data["members"]}
    events = {e[0]: e for e in data["events"]}
    assert all(e[1] in groups for e in events.values())
    assert all(r[1] in events and r[2] in members for r in data["rsvps"])
    assert len({(r[1], r[2]) for r in data["rsvps"]}) == len(data["rsvps"])  # one answer per member and event
    assert all(r[5] < events[r[1]][3] for r in data["rsvps"])  # people answer before the event


@pytest.mark.integration
def test_the_command_loads_a_postgres_database(postgres_server, dags_folder):
    uri = postgres_server.create_database("sample_cli")
    result = subprocess.run(
        [sys.executable, "-m", "platform_dags.sample_data", uri],
        cwd=dags_folder, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "groups: 40, members: 2000, events: 800, rsvps: 4000 (total 6840)"
    # Loading again replaces, it does not duplicate.
    assert load_sample_source(uri)["rsvps"] == 4000
    with psycopg2.connect(uri) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT (SELECT count(*) FROM rsvps), (SELECT count(*) FROM rsvps WHERE response = 'yes')")
        total, yes = cursor.fetchone()
    assert total == 4000 and 2000 < yes < 4000
