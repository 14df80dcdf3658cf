"""Parse time of a 1,000-table pipeline (3,000 tasks): the factory vs the same DAG by hand vs dag-factory 1.1.

Run from the project root, in the project's virtual environment:  python bench/parse.py [--runs 7] [--tables 1000]

Three DAG folders are generated under .cache/bench-parse/ describing the same DAG (same operators
from platform_dags.etl, same arguments, a task group per table, the same dependencies):
  factory      pipelines_loader.py + pipelines/bench_pipeline.yaml (this project's format)
  hand         bench_pipeline.py: a table list and a loop, as a person would write it (the floor);
               like the factory it asks platform_dags.alerts for callbacks (none: no routing here)
  dag-factory  load.py + bench_pipeline.yaml in dag-factory 1.1.0's format, run from a bench-only
               virtual environment (.cache/bench-dagfactory: the running environment's packages through a .pth
               file, plus dag-factory; the project's own environment never gets dag-factory)
Each measurement is a fresh Python process that imports Airflow, then times Airflow's own
`DagBag(dag_folder=<the DAG file>)` (what the DAG processor does per file) and checks it holds 3,000
tasks. No parse cache: bytecode writing is off and __pycache__ folders are removed before each run,
and the factory caches nothing. Runs are interleaved; medians are printed with the ratios
factory / hand-written (target <= 1.25) and dag-factory / factory.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".cache" / "bench-parse"
DF_VENV = ROOT / ".cache" / "bench-dagfactory"
DAG_ID = "bench_pipeline"

_MEASURE = """
import json, sys, time
import airflow.sdk  # noqa: F401  (Airflow's own import is not parse time)
from airflow.dag_processing.dagbag import DagBag
t0 = time.perf_counter()
bag = DagBag(dag_folder=sys.argv[1])
elapsed = time.perf_counter() - t0
dag = bag.dags.get(sys.argv[2])
print("@@" + json.dumps({"seconds": elapsed, "tasks": len(dag.tasks) if dag else 0, "errors": list(bag.import_errors.values())}))
"""


def tables(n: int) -> list[dict]:
    """n tables; each depends on up to two earlier ones, priorities and modes vary."""
    out = []
    for i in range(n):
        deps = sorted({f"t{i - 1:04d}"} if i % 3 else set()) + ([f"t{i - 7:04d}"] if i >= 7 and i % 5 == 0 else [])
        out.append(
            {
                "name": f"t{i:04d}",
                "source": {"conn_id": "source_db", "table": f"public.t{i:04d}"} if i % 4 else {"conn_id": "source_db", "sql": f"SELECT * FROM public.t{i:04d} WHERE id > 0"},
                "destination": {"conn_id": "warehouse", "table": f"raw.t{i:04d}", "mode": "append" if i % 6 == 0 else "replace"},
                "transform": "SELECT * FROM {{ input }}" if i % 2 else None,
                "priority": (i * 37) % 100,
                "depends_on": deps,
            }
        )
    return out


def write_factory(folder: Path, specs: list[dict]) -> Path:
    import yaml

    (folder / "pipelines").mkdir(parents=True)
    shutil.copy(ROOT / "dags" / "pipelines_loader.py", folder / "pipelines_loader.py")
    doc = {
        "schedule": "0 2 * * *",
        "owner": "data-platform",
        "defaults": {"retries": 2, "retry_delay_minutes": 5, "max_retry_delay_minutes": 60, "pool": "default_pool", "execution_timeout_minutes": 60, "batch_size": 10000},
        "tables": [{k: v for k, v in t.items() if v is not None} for t in specs],
    }
    (folder / "pipelines" / f"{DAG_ID}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return folder / "pipelines_loader.py"


def write_hand(folder: Path, specs: list[dict]) -> Path:
    folder.mkdir(parents=True)
    rows = ",\n".join(
        f"    ({t['name']!r}, {t['source'].get('table')!r}, {t['source'].get('sql')!r}, {t['destination']['table']!r}, "
        f"{t['destination']['mode']!r}, {t['transform']!r}, {t['priority']}, {t['depends_on']!r})"
        for t in specs
    )
    (folder / f"{DAG_ID}.py").write_text(f'''"""Hand-written DAG: the same {len(specs)} tables, written directly in Python."""
from datetime import datetime, timedelta, timezone

from airflow.sdk import DAG, TaskGroup

from platform_dags import alerts
from platform_dags.etl import ExtractOperator, PublishOperator, TransformOperator

# name, source table, source sql, destination table, mode, transform, priority, depends on
TABLES = [
{rows},
]

callbacks = alerts.pipeline_callbacks({DAG_ID!r}, "slack_default", None, "pagerduty_{{service}}", None)

with DAG(
    dag_id={DAG_ID!r},
    schedule="0 2 * * *",
    start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    tags=["pipeline"],
    default_args={{
        "owner": "data-platform",
        "retries": 2,
        "retry_delay": timedelta(minutes=5),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=60),
        "pool": "default_pool",
        "execution_timeout": timedelta(minutes=60),
        "weight_rule": "absolute",
        **callbacks["task"],
    }},
    **callbacks["dag"],
) as dag:
    extract, publish = {{}}, {{}}
    for name, table, sql, dest, mode, transform, priority, deps in TABLES:
        with TaskGroup(name):
            e = ExtractOperator(task_id="extract", source_conn_id="source_db", source_table=table, source_sql=sql,
                                destination_conn_id="warehouse", staging_table=f"{{name}}_raw", batch_size=10000,
                                priority_weight=priority)
            x = TransformOperator(task_id="transform", destination_conn_id="warehouse", sql=transform,
                                  input_table=f"{{name}}_raw", output_table=f"{{name}}_out", priority_weight=priority)
            p = PublishOperator(task_id="publish", destination_conn_id="warehouse", staging_table=f"{{name}}_out",
                                table=dest, mode=mode, priority_weight=priority)
            e >> x >> p
        extract[name], publish[name] = e, p
    for name, *_, deps in TABLES:
        if deps:
            extract[name].set_upstream([publish[d] for d in deps])
''')
    return folder / f"{DAG_ID}.py"


def write_dagfactory(folder: Path, specs: list[dict]) -> Path:
    """dag-factory 1.1 format: tasks keyed by name with `task_group_name` and `dependencies`."""
    import yaml

    folder.mkdir(parents=True)
    tasks: dict = {}
    groups: dict = {}
    for t in specs:
        n, w = t["name"], t["priority"]
        groups[n] = {"tooltip": n}
        tasks[f"{n}_extract"] = {
            "operator": "platform_dags.etl.ExtractOperator", "task_group_name": n, "source_conn_id": "source_db",
            "source_table": t["source"].get("table"), "source_sql": t["source"].get("sql"), "destination_conn_id": "warehouse",
            "staging_table": f"{n}_raw", "batch_size": 10000, "priority_weight": w,
            "dependencies": [f"{d}_publish" for d in t["depends_on"]],
        }
        tasks[f"{n}_transform"] = {
            "operator": "platform_dags.etl.TransformOperator", "task_group_name": n, "destination_conn_id": "warehouse",
            "sql": t["transform"], "input_table": f"{n}_raw", "output_table": f"{n}_out", "priority_weight": w,
            "dependencies": [f"{n}_extract"],
        }
        tasks[f"{n}_publish"] = {
            "operator": "platform_dags.etl.PublishOperator", "task_group_name": n, "destination_conn_id": "warehouse",
            "staging_table": f"{n}_out", "table": t["destination"]["table"], "mode": t["destination"]["mode"], "priority_weight": w,
            "dependencies": [f"{n}_transform"],
        }
    minutes = lambda m: {"__type__": "datetime.timedelta", "minutes": m}  # noqa: E731
    doc = {
        DAG_ID: {
            "schedule": "0 2 * * *",
            "catchup": False,
            "max_active_runs": 1,
            "tags": ["pipeline"],
            "default_args": {
                "owner": "data-platform", "start_date": "2024-01-01", "retries": 2, "retry_delay": minutes(5),
                "retry_exponential_backoff": True, "max_retry_delay": minutes(60), "pool": "default_pool",
                "execution_timeout": minutes(60), "weight_rule": "absolute",
            },
            "task_groups": groups,
            "tasks": tasks,
        }
    }
    (folder / f"{DAG_ID}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    (folder / "load.py").write_text(
        '"""dag-factory loader (airflow DAG file)."""\nfrom pathlib import Path\n\nfrom dagfactory import load_yaml_dags\n\n'
        f'load_yaml_dags(globals_dict=globals(), config_filepath=str(Path(__file__).parent / "{DAG_ID}.yaml"))\n'
    )
    return folder / "load.py"


def dagfactory_python() -> Path | None:
    """The bench-only environment's python with dag-factory 1.1.0, created on first use."""
    python = DF_VENV / "bin" / "python"
    if python.exists() and subprocess.run([python, "-c", "import dagfactory"], capture_output=True).returncode == 0:
        return python
    print(f"creating {DF_VENV.relative_to(ROOT)} (dag-factory 1.1.0 on top of this environment's packages) ...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(DF_VENV)], check=True)
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], capture_output=True, text=True, check=True).stdout.strip()
    # Airflow and the providers come from the project's environment, unchanged; only dag-factory is added.
    Path(site, "_project_venv.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    proc = subprocess.run([python, "-m", "pip", "install", "-q", "dag-factory==1.1.0"], capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"dag-factory could not be installed: {proc.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return None
    return python


def measure(python: Path, dag_file: Path) -> float:
    for cache in dag_file.parent.rglob("__pycache__"):
        shutil.rmtree(cache)
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", PYTHONPATH=str(ROOT / "dags"), DO_NOT_TRACK="True", SCARF_NO_ANALYTICS="True")
    env.pop("_AIRFLOW_PARSING_CONTEXT_DAG_ID", None)
    with tempfile.TemporaryDirectory(prefix="bench-airflow-home-") as home:
        env.update(AIRFLOW_HOME=home, AIRFLOW__CORE__LOAD_EXAMPLES="False", AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT="0",
                   AIRFLOW__DAG_FACTORY__ENABLE_TELEMETRY="False")
        proc = subprocess.run([str(python), "-c", _MEASURE, str(dag_file), DAG_ID], capture_output=True, text=True, env=env, cwd=home)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("@@")), None)
    if line is None:
        raise SystemExit(f"{dag_file}: measurement failed:\n{proc.stderr[-2000:]}")
    result = json.loads(line[2:])
    if result["errors"] or result["tasks"] != expected_tasks:
        raise SystemExit(f"{dag_file}: expected {expected_tasks} tasks, got {result['tasks']}; import errors: {result['errors']}")
    return result["seconds"]


expected_tasks = 0


def main() -> int:
    global expected_tasks
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="measurements per variant (median reported; at least 5)")
    parser.add_argument("--tables", type=int, default=1000, help="tables in the generated pipeline (3 tasks each)")
    parser.add_argument("--skip-dag-factory", action="store_true", help="measure only the factory and the hand-written DAG")
    args = parser.parse_args()
    runs = max(args.runs, 5)
    expected_tasks = 3 * args.tables

    shutil.rmtree(WORK, ignore_errors=True)
    specs = tables(args.tables)
    variants = {
        "hand-written": (Path(sys.executable), write_hand(WORK / "hand", specs)),
        "factory": (Path(sys.executable), write_factory(WORK / "factory", specs)),
    }
    df_python = None if args.skip_dag_factory else dagfactory_python()
    if df_python:
        variants["dag-factory 1.1"] = (df_python, write_dagfactory(WORK / "dag-factory", specs))

    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(runs):
        for name, (python, dag_file) in variants.items():
            times[name].append(measure(python, dag_file))
    med = {name: statistics.median(v) for name, v in times.items()}

    print(f"parse time of a {args.tables}-table pipeline ({expected_tasks} tasks), median of {runs} fresh processes:")
    for name, value in med.items():
        spread = f"{min(times[name]):.3f}-{max(times[name]):.3f}"
        print(f"  {name:16} {value:6.3f} s   (range {spread} s)")
    ratio = med["factory"] / med["hand-written"]
    print(f"factory / hand-written   = {ratio:.2f}  (target <= 1.25: {'met' if ratio <= 1.25 else 'NOT met'})")
    if "dag-factory 1.1" in med:
        print(f"dag-factory / factory    = {med['dag-factory 1.1'] / med['factory']:.2f}")
    else:
        print("dag-factory / factory    = not measured")
    return 0 if ratio <= 1.25 else 1


if __name__ == "__main__":
    sys.exit(main())
