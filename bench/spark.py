"""The `recommendations` pipeline on the local platform against the same spark-submit commands run by hand.

    python bench/spark.py

On a fresh local platform (temp folder, free ports, `spark: target local, local[2]`), meetup_nightly
fills the warehouse first (not timed). Then, in the same run, on the fixed sample data as it is:

1. pipeline: trigger `recommendations` through the REST API until its run is `success` (wall clock,
   polled every 0.5 s), and the run's own start→end as the scheduler recorded it;
2. by hand: the four spark-submit commands the operators run (same master, conf, jars, memory, script,
   arguments), the three feature jobs in parallel, then scoring: the baseline.
Prints the orchestration overhead in seconds and as a ratio (goal <= 1.3x).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "dags")]

from tests.local.platform_kit import Platform, wait_for, write_env  # noqa: E402  (the tests' platform handle)

FEATURES = ("member_activity", "group_popularity", "event_attendance")


def run_to_the_end(platform: Platform, dag_id: str, timeout: float) -> tuple[str, float]:
    platform.call("PATCH", f"/dags/{dag_id}", {"is_paused": False})
    # Unpausing creates the latest scheduled run, and max_active_runs=1 would queue the timed run behind
    # it: let that one finish first (not timed), so the clock measures one run.
    time.sleep(5)
    active = "SELECT count(*) FROM dag_run WHERE dag_id = %s AND state IN ('queued', 'running')"
    wait_for(lambda: platform.sql(active, dag_id)[0][0] == 0, timeout, f"{dag_id} (scheduled run)", interval=1)
    started = time.monotonic()
    run_id = platform.call("POST", f"/dags/{dag_id}/dagRuns", {"logical_date": None})["dag_run_id"]
    wait_for(lambda: platform.runs_by_id([run_id])[0][1] in ("success", "failed"), timeout, dag_id, interval=0.5)
    elapsed = time.monotonic() - started
    platform.call("PATCH", f"/dags/{dag_id}", {"is_paused": True})
    state = platform.runs_by_id([run_id])[0][1]
    if state != "success":
        sys.exit(f"{dag_id} ended {state}: see the task logs under {platform.folder}")
    return run_id, elapsed


def commands(platform: Platform) -> dict[str, list[str]]:
    """The spark-submit command of each job, as SparkSubmitHook builds it for the local target."""
    import os

    from infra.airflow_config import build
    from platform_dags.factory import build_dag, load_pipeline
    from platform_dags.factory.spark_build import spark_home_bin

    settings = build(platform.env)
    for (section, key), value in settings.config.items():
        if section == "platform":
            os.environ[f"AIRFLOW__PLATFORM__{key.upper()}"] = value
    dag = build_dag(load_pipeline(ROOT / "dags" / "pipelines" / "recommendations.yaml"))
    jdbc = f"jdbc:postgresql://127.0.0.1:{platform.env.local.postgres_port}/warehouse?user=postgres"
    master = platform.env.spark.local_master
    out = {}
    for task in dag.tasks:
        cmd = [str(Path(spark_home_bin()) / "spark-submit"), "--master", master]
        for key, value in task.conf.items():
            cmd += ["--conf", f"{key}={value}"]
        cmd += ["--jars", task.jars, "--driver-memory", task._driver_memory, "--name", task.name, task.application]
        out[task.task_id] = cmd + [a.replace("{{ jdbc_url('warehouse') }}", jdbc) for a in task.application_args]
    return out


def by_hand(cmds: dict[str, list[str]]) -> float:
    def run(name: str) -> None:
        subprocess.run(cmds[name], check=True, capture_output=True)

    started = time.monotonic()
    with ThreadPoolExecutor(len(FEATURES)) as pool:
        list(pool.map(run, FEATURES))
    run("score")
    return time.monotonic() - started


def main() -> None:
    base = Path(tempfile.mkdtemp(prefix="bench-spark-", dir="/tmp"))
    base.chmod(0o755)
    env_path = write_env(base)
    data = yaml.safe_load(env_path.read_text())
    data["spark"] = {"target": "local", "local_master": "local[2]"}
    env_path.write_text(yaml.safe_dump(data))
    platform = Platform(env_path)
    try:
        assert platform.deploy() == 0
        wait_for(lambda: {"meetup_nightly", "recommendations"} <= {r[0] for r in platform.sql("SELECT dag_id FROM dag WHERE NOT is_stale")}, 180, "parsing")
        run_to_the_end(platform, "meetup_nightly", 600)  # fills the warehouse; not timed
        cmds = commands(platform)
        hand = by_hand(cmds)  # also warms the page cache for both sides alike
        run_id, wall = run_to_the_end(platform, "recommendations", 900)
        recorded = platform.sql("SELECT extract(epoch FROM end_date - start_date) FROM dag_run WHERE run_id = %s", run_id)[0][0]
        hand2 = by_hand(cmds)
        baseline = min(hand, hand2)
        print(f"by hand (3 parallel + 1): {hand:.1f} s, {hand2:.1f} s again; baseline {baseline:.1f} s")
        print(f"pipeline, trigger to success seen: {wall:.1f} s; run start to end (scheduler): {float(recorded):.1f} s")
        print(f"overhead: {wall - baseline:.1f} s, ratio {wall / baseline:.2f}x (goal <= 1.3x); "
              f"scheduler-recorded ratio {float(recorded) / baseline:.2f}x")
    finally:
        platform.destroy()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
