"""The Airflow IAM user can migrate the metadata database with exactly the roles the stack grants it.

Cloud SQL's model, recreated on the embedded PostgreSQL: the instance's admin (here `postgres`, standing
in for `cloudsqladmin`) creates `cloudsqlsuperuser` (NOSUPERUSER) and databases owned by it; the IAM user
is a NOSUPERUSER login role holding only what `google_sql_user.database_roles` says, read from the
synthesized JSON. On PostgreSQL 15+ `public` belongs to the database owner and PUBLIC may not create there.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from infra.naming import DATABASE_NAME

pytestmark = pytest.mark.integration

FAB = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"


def _iam_user(stack) -> dict:
    return stack.one("google_sql_user", "database/airflow-iam-user")


def _admin(server, database: str = "postgres"):
    import psycopg2

    conn = psycopg2.connect(server.uri(database))
    conn.autocommit = True
    return conn


def _cloud_sql_database(server, database: str, login: str, roles: list[str]) -> str:
    """A database owned as Cloud SQL owns it, and `login` holding exactly `roles`; the URI to log in as it."""
    conn = _admin(server)
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_roles WHERE rolname = 'cloudsqlsuperuser'")
        if not cur.fetchone():
            cur.execute("CREATE ROLE cloudsqlsuperuser NOSUPERUSER NOLOGIN CREATEROLE CREATEDB")
        cur.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        cur.execute(f'DROP ROLE IF EXISTS "{login}"')
        cur.execute(f'CREATE ROLE "{login}" NOSUPERUSER NOCREATEDB NOCREATEROLE LOGIN')
        for role in roles:
            cur.execute(f'GRANT "{role}" TO "{login}"')
        cur.execute(f'CREATE DATABASE "{database}" OWNER cloudsqlsuperuser')
    conn.close()
    conn = _admin(server, database)
    with conn.cursor() as cur:
        # PostgreSQL 15+ already has it so; stated so the test holds on any server it runs on.
        cur.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    conn.close()
    return f"postgresql+psycopg2://{login}@127.0.0.1:{server.port}/{database}"


def _migrate(uri: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": uri, "AIRFLOW__CORE__AUTH_MANAGER": FAB}
    return subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], env=env, capture_output=True, text=True, timeout=900
    )


def _tables(server, database: str) -> set[str]:
    conn = _admin(server, database)
    with conn.cursor() as cur:
        cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        names = {row[0] for row in cur.fetchall()}
    conn.close()
    return names


def test_every_environment_grants_the_airflow_user_the_same_database_roles(synthesized):
    roles = {name: _iam_user(synthesized[name]).get("database_roles") for name in ("dev", "qa", "prod")}
    assert roles["prod"], "prod: the Airflow IAM user is granted no database roles"
    assert roles["dev"] == roles["qa"] == roles["prod"], roles


def test_airflow_user_migrates_with_the_synthesized_roles(prod, postgres_server):
    user = _iam_user(prod)
    assert user["type"] == "CLOUD_IAM_SERVICE_ACCOUNT"
    uri = _cloud_sql_database(postgres_server, DATABASE_NAME, user["name"], user["database_roles"])
    conn = _admin(postgres_server)
    with conn.cursor() as cur:
        cur.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", (user["name"],))
        assert cur.fetchone() == (False,), "the migrating role must not be a superuser"
    conn.close()

    result = _migrate(uri)

    assert result.returncode == 0, result.stderr[-3000:]
    tables = _tables(postgres_server, DATABASE_NAME)
    assert {"dag_run", "task_instance", "alembic_version"} <= tables
    assert {"ab_user", "ab_role", "alembic_version_fab"} <= tables, "FAB's tables were not migrated"


def test_without_the_roles_the_airflow_user_cannot_migrate(postgres_server):
    uri = _cloud_sql_database(postgres_server, "airflow_no_roles", "no-roles-user", [])

    result = _migrate(uri)

    assert result.returncode != 0
    assert "permission denied for schema public" in result.stderr + result.stdout
