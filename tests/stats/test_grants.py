"""The read-only grants the bootstrap gives the stats identity: enough for every query, nothing more."""

from __future__ import annotations

import psycopg
import pytest

from infra.progress import snapshot
from infra.stats import collect, read_only_grants

ROLE = "af-test-stats@acme-test.iam"  # shaped like a Cloud SQL IAM service-account user


@pytest.fixture(scope="module")
def reader_uri(seeded):
    """A NOSUPERUSER login role holding only `read_only_grants`, on the seeded database."""
    with psycopg.connect(seeded.uri, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (ROLE,)).fetchone()
        if not exists:
            conn.execute(f'CREATE ROLE "{ROLE}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE')
        for _ in range(2):  # idempotent: the bootstrap runs it after every migration
            conn.execute(read_only_grants(ROLE))
    return seeded.uri.replace("postgres@", f"{ROLE.replace('@', '%40')}@")


def test_the_reader_runs_every_stats_and_progress_query(reader_uri):
    with psycopg.connect(reader_uri) as conn:
        assert conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone() == (False,)
        conn.rollback()
        assert collect(conn, "test", dag_id=None, days=30, with_daily=True).rows
        assert collect(conn, "test", dag_id="stats_etl", days=30, with_daily=True).rows
        assert snapshot(conn, "test", "stats_etl", None).tables


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE dag_run SET state = 'success'",
        "DELETE FROM task_instance",
        "INSERT INTO dag_bundle (name) VALUES ('x')",
        "CREATE TABLE public.stats_scratch (id int)",
    ],
)
def test_the_reader_cannot_write_even_outside_a_read_only_transaction(reader_uri, statement):
    with psycopg.connect(reader_uri) as conn:
        conn.execute("SET default_transaction_read_only = off")  # a user can lift the session default...
        conn.commit()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):  # ...but not the missing grant
            conn.execute(statement)


@pytest.mark.parametrize("table", ["connection", "variable", "serialized_dag"])
def test_the_reader_cannot_read_credentials_or_other_tables(reader_uri, table):
    with psycopg.connect(reader_uri) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(f"SELECT * FROM {table} LIMIT 1")


def test_the_reader_sessions_default_to_read_only_with_a_timeout(reader_uri):
    with psycopg.connect(reader_uri) as conn:
        assert conn.execute("SHOW default_transaction_read_only").fetchone() == ("on",)
        assert conn.execute("SHOW statement_timeout").fetchone() == ("30s",)
