"""ETL operators that move real rows: extract → transform → publish, three tasks per table.

Rows never travel through XCom. Each step reads and writes tables in the *destination* database:

    ExtractOperator    source query ──(server-side cursor, fetchmany)──► staging.<staging_table>_<run>
    TransformOperator  staging.<input_table>_<run> ──(CREATE TABLE AS <sql>)──► staging.<output_table>_<run>
    PublishOperator    staging.<staging_table>_<run> ──(one transaction)──► <table>; staging dropped

Staging names: the operators add a run-unique suffix (10 hex chars of sha1("<dag_id>/<run_id>")) to
the base name they are given, in schema ``staging`` unless the name carries its own schema. Two runs of
the same pipeline therefore never share a staging table, and a retry of a step starts from a clean one.

Transform SQL is a SELECT over the step's input; write the input as ``{{ input }}``
(e.g. ``SELECT group_id, count(*) AS rsvps FROM {{ input }} GROUP BY group_id``). The SQL is rendered
by Jinja like any templated field, so ``{{ ds }}`` and friends work too. ``sql=None`` is a
pass-through (the staging table is renamed, no copy).

Operators are cheap to build (a 3,000-task DAG must parse fast): constructors only store and check
names; hooks, drivers and database work happen in ``execute``.
"""

from __future__ import annotations

import hashlib
import re
from contextlib import closing
from typing import Any

from airflow.sdk import BaseOperator

STAGING_SCHEMA = "staging"
# Plain (optionally schema-qualified) lower-case identifiers: nothing to quote, nothing to inject.
_RELATION = re.compile(r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$")
# Leave room for "_" + 10-char run suffix inside PostgreSQL's 63-byte identifier limit.
_MAX_BASE = 52


def check_relation(value: str, what: str) -> str:
    """Return ``value`` if it is a plain lower-case [schema.]table name, else raise a clear error."""
    if not isinstance(value, str) or not _RELATION.match(value):
        raise ValueError(f"{what} must be a lower-case table name like 'events' or 'staging.events', got {value!r}")
    return value


def run_suffix(context: Any) -> str:
    """Ten hex characters unique to one DAG run (same for every task of that run)."""
    key = f"{context['dag'].dag_id}/{context['run_id']}"
    return hashlib.sha1(key.encode()).hexdigest()[:10]


def staging_relation(name: str, context: Any) -> str:
    """The run-unique staging table for base ``name`` (schema ``staging`` unless given)."""
    schema, _, base = name.rpartition(".")
    return f"{schema or STAGING_SCHEMA}.{base[:_MAX_BASE]}_{run_suffix(context)}"


def _hook(conn_id: str):
    """The connection's own DB-API hook (PostgresHook for postgres connections)."""
    from airflow.sdk import BaseHook

    return BaseHook.get_connection(conn_id).get_hook()


def _has_fast_executemany(hook) -> bool:
    """Whether `fast_executemany` means something to the hook's driver: psycopg2's execute_values
    (and pyodbc's flag) do; psycopg 3 pipelines executemany anyway and the hook warns on every task."""
    from airflow.providers.postgres.hooks import postgres

    return not (isinstance(hook, postgres.PostgresHook) and postgres.USE_PSYCOPG3)


def _split(relation: str) -> tuple[str, str]:
    schema, _, table = relation.rpartition(".")
    return schema or "public", table


def _relation_kind(cursor, relation: str) -> str | None:
    """'r' for a table, 'v' for a view, None when missing (PostgreSQL catalog)."""
    schema, table = _split(relation)
    cursor.execute(
        "SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relname = %s",
        (schema, table),
    )
    row = cursor.fetchone()
    return row[0] if row else None


def _columns(cursor, relation: str) -> list[str]:
    schema, table = _split(relation)
    cursor.execute(
        "SELECT column_name FROM information_schema.columns"
        " WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
        (schema, table),
    )
    return [row[0] for row in cursor.fetchall()]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _create_schema_statements(schema: str) -> list[str]:
    """CREATE SCHEMA IF NOT EXISTS races when parallel tasks meet a new schema (one fails on
    pg_namespace's unique index); a transaction-scoped advisory lock makes them take turns."""
    return [
        f"SELECT pg_advisory_xact_lock(hashtext('platform_dags.schema.{schema}'))",
        f"CREATE SCHEMA IF NOT EXISTS {schema}",
    ]


class ExtractOperator(BaseOperator):
    """Copy the rows of a source table or query into a staging table in the destination database.

    Reads with a server-side cursor in batches of ``batch_size`` and writes each batch with the
    destination hook's bulk ``insert_rows`` (``execute_values`` on psycopg2, pipelined executemany on
    psycopg 3), so memory stays flat whatever the table size. Column types are carried over from a
    PostgreSQL source; other sources land as ``text``.
    """

    template_fields = ("source_sql",)
    ui_color = "#e8f4fd"

    def __init__(
        self,
        *,
        source_conn_id: str,
        source_table: str | None = None,
        source_sql: str | None = None,
        destination_conn_id: str,
        staging_table: str,
        batch_size: int = 10_000,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if (source_table is None) == (source_sql is None):
            raise ValueError(f"{self.task_id}: give exactly one of source_table or source_sql")
        if source_table is not None:
            check_relation(source_table, "source_table")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"{self.task_id}: batch_size must be a positive integer, got {batch_size!r}")
        self.source_conn_id = source_conn_id
        self.source_table = source_table
        self.source_sql = source_sql
        self.destination_conn_id = destination_conn_id
        self.staging_table = check_relation(staging_table, "staging_table")
        self.batch_size = batch_size

    def execute(self, context: Any) -> None:
        staging = staging_relation(self.staging_table, context)
        query = self.source_sql or f"SELECT * FROM {self.source_table}"
        source, destination = _hook(self.source_conn_id), _hook(self.destination_conn_id)
        with closing(source.get_conn()) as conn:
            cursor = self._stream_cursor(conn)
            cursor.execute(query)
            first = cursor.fetchmany(self.batch_size)
            columns = [col[0] for col in cursor.description]
            types = self._column_types(conn, cursor.description)
            self._create_staging(destination, staging, columns, types)
            counter = {"rows": 0, "batches": 0}
            destination.insert_rows(
                staging,
                self._rows(cursor, first, counter),
                target_fields=columns,
                commit_every=self.batch_size,
                executemany=True,
                fast_executemany=_has_fast_executemany(destination),
            )
            cursor.close()
        self.log.info("Extracted %d rows in %d batches into %s", counter["rows"], counter["batches"], staging)

    def _stream_cursor(self, conn):
        """A server-side (named) cursor when the driver has one, so the source streams in batches."""
        try:
            cursor = conn.cursor(name=f"extract_{self.task_id.replace('.', '_')}"[:60])
        except TypeError:  # drivers without named cursors: fetchmany on a client cursor
            return conn.cursor()
        if hasattr(cursor, "itersize"):
            cursor.itersize = self.batch_size
        return cursor

    def _rows(self, cursor, first: list, counter: dict):
        batch = first
        while batch:
            counter["batches"] += 1
            counter["rows"] += len(batch)
            yield from batch
            batch = cursor.fetchmany(self.batch_size)

    @staticmethod
    def _column_types(conn, description) -> list[str]:
        """PostgreSQL type names for the result columns; ``text`` when the source is not PostgreSQL."""
        oids = [col[1] for col in description]
        try:
            with closing(conn.cursor()) as cursor:
                cursor.execute(
                    "SELECT oid::bigint, format_type(oid, NULL) FROM pg_type WHERE oid = ANY(%s)",
                    ([int(oid) for oid in oids],),
                )
                names = {int(oid): name for oid, name in cursor.fetchall()}
        except Exception:  # not PostgreSQL: the destination gets text columns
            conn.rollback()
            return ["text"] * len(oids)
        return [names.get(int(oid), "text") for oid in oids]

    @staticmethod
    def _create_staging(hook, staging: str, columns: list[str], types: list[str]) -> None:
        schema, _ = _split(staging)
        ddl = ", ".join(f"{_quote(name)} {kind}" for name, kind in zip(columns, types, strict=True))
        hook.run(
            [
                *_create_schema_statements(schema),
                f"DROP TABLE IF EXISTS {staging} CASCADE",
                f"CREATE TABLE {staging} ({ddl})",
            ]
        )


class TransformOperator(BaseOperator):
    """Run the table's SQL transform over its staging input into a new staging table.

    ``sql`` is a SELECT; ``{{ input }}`` names the input staging table. Output and the drop of the
    input commit together; a rerun after success finds the output and does nothing.
    """

    template_fields = ("sql",)
    template_fields_renderers = {"sql": "sql"}
    ui_color = "#fdf6e3"

    def __init__(
        self,
        *,
        destination_conn_id: str,
        sql: str | None = None,
        input_table: str,
        output_table: str,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.destination_conn_id = destination_conn_id
        self.sql = sql
        self.input_table = check_relation(input_table, "input_table")
        self.output_table = check_relation(output_table, "output_table")

    def render_template_fields(self, context: Any, jinja_env=None) -> None:
        # `{{ input }}` is this run's staging table: known only once the run is.
        context = {**context, "input": staging_relation(self.input_table, context)}
        super().render_template_fields(context, jinja_env)

    def execute(self, context: Any) -> None:
        source = staging_relation(self.input_table, context)
        target = staging_relation(self.output_table, context)
        hook = _hook(self.destination_conn_id)
        with closing(hook.get_conn()) as conn, closing(conn.cursor()) as cursor:
            if _relation_kind(cursor, source) is None:
                if _relation_kind(cursor, target) is not None:
                    self.log.info("%s already built by an earlier try; nothing to do", target)
                    return
                raise RuntimeError(f"staging table {source} is missing: clear the extract task of this table too")
            cursor.execute(f"DROP TABLE IF EXISTS {target} CASCADE")
            if self.sql is None or source == target:
                if source != target:
                    cursor.execute(f"ALTER TABLE {source} RENAME TO {_split(target)[1]}")
            else:
                cursor.execute(f"CREATE TABLE {target} AS {self.sql.strip().rstrip(';')}")
                cursor.execute(f"DROP TABLE {source}")
            cursor.execute(f"SELECT count(*) FROM {target}")
            rows = cursor.fetchone()[0]
            conn.commit()
        self.log.info("Transform wrote %d rows into %s", rows, target)


class PublishOperator(BaseOperator):
    """Move the staged result into the destination table in one transaction, then drop staging.

    ``replace``: when the table exists with the same columns it is truncated and refilled (indexes,
    grants and dependent views survive); when its columns changed it is dropped and recreated.
    ``append``: rows are added (the table is created on first use). Readers see the old or the new
    contents, never a half-loaded table.
    """

    ui_color = "#e6f5e6"

    def __init__(
        self,
        *,
        destination_conn_id: str,
        staging_table: str,
        table: str,
        mode: str = "replace",
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if mode not in ("replace", "append"):
            raise ValueError(f"{self.task_id}: mode must be 'replace' or 'append', got {mode!r}")
        self.destination_conn_id = destination_conn_id
        self.staging_table = check_relation(staging_table, "staging_table")
        self.table = check_relation(table, "table")
        self.mode = mode

    def execute(self, context: Any) -> None:
        staging = staging_relation(self.staging_table, context)
        hook = _hook(self.destination_conn_id)
        with closing(hook.get_conn()) as conn, closing(conn.cursor()) as cursor:
            if _relation_kind(cursor, staging) is None:
                raise RuntimeError(f"staging table {staging} is missing: clear this table's extract and transform too")
            new_columns = _columns(cursor, staging)
            old_columns = _columns(cursor, self.table) if _relation_kind(cursor, self.table) else None
            schema, _ = _split(self.table)
            for statement in _create_schema_statements(schema):
                cursor.execute(statement)
            cols = ", ".join(_quote(c) for c in new_columns)
            if old_columns is None:
                cursor.execute(f"CREATE TABLE {self.table} AS SELECT * FROM {staging}")
            elif self.mode == "replace" and old_columns != new_columns:
                self.log.warning("Columns of %s changed (%s → %s): recreating it", self.table, old_columns, new_columns)
                cursor.execute(f"DROP TABLE {self.table}")
                cursor.execute(f"CREATE TABLE {self.table} AS SELECT * FROM {staging}")
            else:
                if self.mode == "replace":
                    cursor.execute(f"TRUNCATE {self.table}")
                cursor.execute(f"INSERT INTO {self.table} ({cols}) SELECT {cols} FROM {staging}")
            cursor.execute(f"DROP TABLE {staging} CASCADE")
            cursor.execute(f"SELECT count(*) FROM {self.table}")
            total = cursor.fetchone()[0]
            conn.commit()
        self.log.info("Published %s (%s): %d rows now", self.table, self.mode, total)
