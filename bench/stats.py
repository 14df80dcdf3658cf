"""`invoke stats local --dag X --days 30` on a million task instances vs one hand-written SQL query.

Run from the project root:  /work/main/.venv/bin/python bench/stats.py [--runs 7]

Sets up, once: an embedded PostgreSQL on a free loopback port, a metadata database migrated by
`airflow db migrate`, ~1M task instances (tests/stats/bulk.py: 100 DAGs x 365 daily runs x 28 tasks)
and an environments folder whose `local` points at it. Then, interleaved, `--runs` times each:
  toolkit   `python -m invoke stats local --dag bulk_7 --days 30 --format json` (a whole process)
  baseline  a Python process that connects with psycopg and runs the same per-task aggregate as one
            hand-written SQL query (a join, no LATERAL, no read-only transaction), printing JSON
Both print the same numbers (checked). Medians and the ratio toolkit / baseline are printed (goal <= 1.5).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "stats")]

DAG = "bulk_7"

BASELINE = r"""
import json, sys
import psycopg
with psycopg.connect(sys.argv[1]) as conn:
    rows = conn.execute('''
        SELECT ti.task_id, count(*),
               avg(EXTRACT(EPOCH FROM ti.end_date - ti.start_date)::float8) FILTER (WHERE ti.state IN ('success', 'failed')),
               percentile_cont(0.5) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM ti.end_date - ti.start_date)::float8),
               percentile_cont(0.95) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM ti.end_date - ti.start_date)::float8),
               avg(EXTRACT(EPOCH FROM ti.start_date - ti.queued_dttm)::float8),
               sum(GREATEST(ti.try_number - 1, 0))
        FROM dag_run r JOIN task_instance ti ON ti.dag_id = r.dag_id AND ti.run_id = r.run_id
        WHERE r.dag_id = %s AND r.run_after >= now() - interval '30 days'
        GROUP BY ti.task_id ORDER BY 3 DESC''', (sys.argv[2],)).fetchall()
print(json.dumps([{"task_id": r[0], "runs": r[1], "p95_seconds": r[4], "retries": r[6]} for r in rows]))
"""


def timed(cmd: list[str], env: dict) -> tuple[float, str]:
    start = time.perf_counter()
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    elapsed = time.perf_counter() - start
    if result.returncode:
        sys.exit(f"{cmd[:4]} failed: {result.stderr.strip()[-500:]}")
    return elapsed, result.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    from bulk import seed_bulk
    from conftest import EmbeddedPostgres

    root = Path(tempfile.mkdtemp(prefix="bench-stats-"))
    server = EmbeddedPostgres(root)
    try:
        uri = server.create_database("airflow")
        t0 = time.perf_counter()
        env = {**os.environ, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": uri.replace("postgresql://", "postgresql+psycopg2://")}
        subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=True, capture_output=True, timeout=600)
        count = seed_bulk(uri)
        print(f"setup: {count:,} task instances in {time.perf_counter() - t0:.0f}s")
        envs = root / "environments"
        envs.mkdir()
        (envs / "local.yaml").write_text(f"runtime: local\nlocal:\n  postgres_port: {server.port}\n")
        env = {**os.environ, "PLATFORM_ENVIRONMENTS_DIR": str(envs)}
        toolkit_cmd = [sys.executable, "-m", "invoke", "stats", "local", "--dag", DAG, "--days", "30", "--format", "json"]
        baseline_cmd = [sys.executable, "-c", BASELINE, uri, DAG]
        toolkit, baseline = [], []
        for _ in range(args.runs):
            seconds, out_toolkit = timed(toolkit_cmd, env)
            toolkit.append(seconds)
            seconds, out_baseline = timed(baseline_cmd, env)
            baseline.append(seconds)
        ours = {r["task_id"]: (r["runs"], round(r["p95_seconds"], 6), r["retries"]) for r in json.loads(out_toolkit)["rows"]}
        theirs = {r["task_id"]: (r["runs"], round(r["p95_seconds"], 6), r["retries"]) for r in json.loads(out_baseline)}
        assert ours == theirs, "the two processes disagree"
        t, b = statistics.median(toolkit), statistics.median(baseline)
        print(f"toolkit  `invoke stats local --dag {DAG} --days 30`: median {t:.3f}s  (runs: {', '.join(f'{x:.3f}' for x in toolkit)})")
        print(f"baseline one SQL query through psycopg:            median {b:.3f}s  (runs: {', '.join(f'{x:.3f}' for x in baseline)})")
        print(f"ratio toolkit / baseline: {t / b:.2f}  (goal <= 1.5)")
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
