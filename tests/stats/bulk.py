"""A busy year in one statement per table: ~1M task instances written with `INSERT ... SELECT generate_series`.

For the EXPLAIN test and bench/stats.py, on a database `airflow db migrate` created. The shape: `dags`
DAGs, one run a day for `days` days, `tasks` tasks per run; every 7th run of a DAG failed, every 5th task
retried once. Statistics are refreshed (ANALYZE) so the planner sees the real sizes.
"""

from __future__ import annotations

BULK_SQL = """
INSERT INTO dag_bundle (name, active) VALUES ('bulk', true) ON CONFLICT DO NOTHING;
INSERT INTO dag (dag_id, is_paused, is_stale, bundle_name, timetable_type, partition_mapper_info, max_active_tasks,
                 max_consecutive_failed_dag_runs, has_task_concurrency_limits)
SELECT 'bulk_' || d, false, false, 'bulk', 'cron', '{{}}', 16, 0, false FROM generate_series(1, {dags}) d;
INSERT INTO dag_run (dag_id, run_id, run_type, run_after, logical_date, queued_at, start_date, end_date, state, clear_number, span_status)
SELECT 'bulk_' || d, 'scheduled__' || n, 'scheduled', ts, ts, ts, ts + interval '10 seconds',
       ts + interval '10 seconds' + (600 + (d * 37 + n * 13) % 900) * interval '1 second',
       CASE WHEN n % 7 = 0 THEN 'failed' ELSE 'success' END, 0, 'not_started'
FROM generate_series(1, {dags}) d, generate_series(1, {days}) n,
     LATERAL (SELECT now() - (n * interval '1 day') AS ts) t;
INSERT INTO task_instance (id, task_id, dag_id, run_id, map_index, start_date, end_date, duration, state, try_number,
                           max_tries, pool, pool_slots, queued_dttm, span_status)
SELECT gen_random_uuid(), 'table_' || (k / 3) || '.' || (ARRAY['extract', 'transform', 'publish'])[k % 3 + 1],
       r.dag_id, r.run_id, -1, r.start_date + k * interval '20 seconds',
       r.start_date + k * interval '20 seconds' + (5 + (k * 7 + r.id) % 15) * interval '1 second',
       5 + (k * 7 + r.id) % 15, 'success', CASE WHEN (k + r.id) % 5 = 0 THEN 2 ELSE 1 END, 2, 'default_pool', 1,
       r.start_date + k * interval '20 seconds' - interval '2 seconds', 'not_started'
FROM dag_run r, generate_series(0, {tasks} - 1) k
WHERE r.dag_id LIKE 'bulk\\_%';
ANALYZE dag; ANALYZE dag_run; ANALYZE task_instance;
"""


def seed_bulk(uri: str, dags: int = 100, days: int = 365, tasks: int = 28) -> int:
    """Write the bulk rows into the migrated database at `uri`; returns the task instances it holds."""
    import psycopg

    with psycopg.connect(uri, autocommit=True) as conn:
        for statement in BULK_SQL.format(dags=dags, days=days, tasks=tasks).split(";\n"):
            if statement.strip():
                conn.execute(statement)
        return conn.execute("SELECT count(*) FROM task_instance").fetchone()[0]
