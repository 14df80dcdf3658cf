"""End to end on the local platform: meetup_nightly fills the warehouse, then `recommendations` runs its
three feature jobs in parallel and scoring after them, all with real Spark (local[2]).

One platform and one run of each pipeline serve every assertion here (Spark time is the cost).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.integration

FEATURES = ("member_activity", "group_popularity", "event_attendance")
SOME_MEMBERS = (1, 2, 777, 1500, 2000)

# The recommendations for SOME_MEMBERS computed in SQL from the raw warehouse tables and the model's
# published coefficients: the same features and ranking rule, written independently of the Spark code.
EXPECTED = """
WITH yes AS (
    SELECT r.member_id, r.event_id, r.guests, e.group_id
    FROM meetup.rsvps r JOIN meetup.events e ON e.id = r.event_id WHERE r.response = 'yes'),
m AS (
    SELECT mb.id AS member_id, mb.city, count(y.event_id)::float8 AS yes_rsvps
    FROM meetup.members mb LEFT JOIN yes y ON y.member_id = mb.id GROUP BY mb.id, mb.city),
per_event AS (
    SELECT e.id, e.group_id, e.capacity,
           coalesce((SELECT count(*) + sum(y.guests) FROM yes y WHERE y.event_id = e.id), 0) AS people
    FROM meetup.events e),
g AS (
    SELECT gr.id AS group_id, gr.city,
           (SELECT count(DISTINCT y.member_id) FROM yes y WHERE y.group_id = gr.id) AS members,
           coalesce(avg(p.people), 0)::float8 AS avg_people,
           coalesce(avg(p.people::float8 / p.capacity), 0) AS fill_rate
    FROM meetup.groups gr LEFT JOIN per_event p ON p.group_id = gr.id GROUP BY gr.id, gr.city),
w AS (SELECT jsonb_object_agg(feature, weight) AS w FROM meetup.recommended_groups_model),
scored AS (
    SELECT m.member_id, g.group_id,
           1 / (1 + exp(-((w->>'intercept')::float8
                          + (w->>'same_city')::float8 * (m.city = g.city)::int
                          + (w->>'log_members')::float8 * ln(1 + g.members)
                          + (w->>'fill_rate')::float8 * g.fill_rate
                          + (w->>'avg_people')::float8 * g.avg_people
                          + (w->>'yes_rsvps')::float8 * m.yes_rsvps))) AS score
    FROM m CROSS JOIN g CROSS JOIN w
    WHERE m.member_id = ANY(%s)
      AND NOT EXISTS (SELECT 1 FROM yes y WHERE y.member_id = m.member_id AND y.group_id = g.group_id))
SELECT member_id, rank, group_id, score FROM (
    SELECT *, row_number() OVER (PARTITION BY member_id ORDER BY score DESC, group_id) AS rank FROM scored) s
WHERE rank <= 3 ORDER BY member_id, rank
"""


def warehouse(platform, query: str, *args) -> list[tuple]:
    from infra.local import postgres

    conn = postgres.connect(platform.env.local.postgres_port, "warehouse")
    try:
        with conn.cursor() as cur:
            cur.execute(query, args)
            return cur.fetchall()
    finally:
        conn.close()


def run_to_the_end(platform, dag_id: str, timeout: float) -> str:
    from tests.local.platform_kit import wait_for

    platform.call("PATCH", f"/dags/{dag_id}", {"is_paused": False})
    try:
        run_id = platform.call("POST", f"/dags/{dag_id}/dagRuns", {"logical_date": None})["dag_run_id"]
        wait_for(lambda: platform.runs_by_id([run_id])[0][1] in ("success", "failed"), timeout, f"{dag_id} to finish", interval=2)
    finally:
        platform.call("PATCH", f"/dags/{dag_id}", {"is_paused": True})
    return run_id


@pytest.fixture(scope="module")
def ran():
    """(platform, run id of recommendations) after both pipelines ran on a fresh local platform."""
    from tests.local.platform_kit import Platform, assert_gone, wait_for, write_env

    assert shutil.which("java") and Path("/usr/share/java/postgresql.jar").is_file(), (
        "Java and Debian's libpostgresql-jdbc-java are needed (.ci/run installs them)"
    )
    base = Path(tempfile.mkdtemp(prefix="localrt-spark-", dir="/tmp"))
    base.chmod(0o755)
    env_path = write_env(base)
    data = yaml.safe_load(env_path.read_text())
    data["spark"] = {"target": "local", "local_master": "local[2]", "jars": ["/usr/share/java/postgresql.jar"]}
    env_path.write_text(yaml.safe_dump(data))
    platform = Platform(env_path)
    everything: set[int] = set()
    try:
        assert platform.deploy() == 0
        wait_for(lambda: {"meetup_nightly", "recommendations"} <= {
            r[0] for r in platform.sql("SELECT dag_id FROM dag WHERE NOT is_stale")}, 180, "the pipelines to be parsed")
        wait_for(lambda: warehouse_ready(platform), 120, "the sample data to be loaded")
        nightly = run_to_the_end(platform, "meetup_nightly", 420)
        assert platform.runs_by_id([nightly])[0][1] == "success", "meetup_nightly must fill the warehouse first"
        run_id = run_to_the_end(platform, "recommendations", 600)
        yield platform, run_id
        everything = platform.all_pids()
    finally:
        everything |= platform.all_pids()
        platform.destroy()
        assert_gone(everything)
        shutil.rmtree(base, ignore_errors=True)


def warehouse_ready(platform) -> bool:
    from infra.local import postgres

    conn = postgres.connect(platform.env.local.postgres_port, "sample_source")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'rsvps'")
            return cur.fetchone()[0] > 0
    finally:
        conn.close()


def task_times(platform, run_id: str) -> dict[str, tuple]:
    rows = platform.sql(
        "SELECT task_id, state, start_date, end_date, try_number FROM task_instance WHERE dag_id = 'recommendations' AND run_id = %s", run_id
    )
    return {task: (state, start, end, tries) for task, state, start, end, tries in rows}


def test_recommendations_succeeds_on_the_local_platform(ran):
    platform, run_id = ran
    states = {task: t[0] for task, t in task_times(platform, run_id).items()}
    assert platform.runs_by_id([run_id])[0][1] == "success", states
    assert states == {task: "success" for task in (*FEATURES, "score")}


def test_feature_jobs_overlap_and_scoring_starts_after_all_three_succeeded(ran):
    platform, run_id = ran
    times = task_times(platform, run_id)
    features = [times[name] for name in FEATURES]
    latest_start = max(start for _, start, _, _ in features)
    earliest_end = min(end for _, _, end, _ in features)
    assert latest_start < earliest_end, f"the feature jobs ran one after another: {times}"
    assert times["score"][1] >= max(end for _, _, end, _ in features), "scoring started before every feature job ended"


def test_every_member_gets_one_set_of_three_recommendations(ran):
    platform, _ = ran
    members = warehouse(platform, "SELECT count(*) FROM meetup.members")[0][0]
    per_member = warehouse(
        platform,
        "SELECT count(DISTINCT member_id), count(*), bool_and(ranks = ARRAY[1,2,3]) FROM ("
        " SELECT member_id, array_agg(rank ORDER BY rank) AS ranks FROM meetup.recommended_groups GROUP BY member_id) s",
    )[0]
    total = warehouse(platform, "SELECT count(*) FROM meetup.recommended_groups")[0][0]
    assert per_member == (members, members, True), "each member has exactly ranks 1, 2, 3"
    assert total == 3 * members
    already = warehouse(
        platform,
        "SELECT count(*) FROM meetup.recommended_groups g JOIN meetup.rsvps r ON r.member_id = g.member_id"
        " JOIN meetup.events e ON e.id = r.event_id AND e.group_id = g.group_id WHERE r.response = 'yes'",
    )[0][0]
    assert already == 0, "a member is never recommended a group they already attend"


def test_some_members_recommendations_match_an_independent_sql_computation(ran):
    platform, _ = ran
    expected = warehouse(platform, EXPECTED, list(SOME_MEMBERS))
    got = warehouse(
        platform,
        "SELECT member_id, rank, group_id, score FROM meetup.recommended_groups WHERE member_id = ANY(%s) ORDER BY member_id, rank",
        list(SOME_MEMBERS),
    )
    assert [row[:3] for row in got] == [row[:3] for row in expected]
    for (member, rank, _, score), (_, _, _, want) in zip(got, expected, strict=True):
        assert score == pytest.approx(want, abs=1e-9), f"member {member} rank {rank}"
