"""`invoke dags.validate` and `invoke dags.graph`: the checks a DAG repository's CI runs on every PR.

`validate` checks every pipeline file with the factory (one `file:LINE:COL: message` per problem),
then imports the folder with Airflow's own DagBag in a child process (a throwaway AIRFLOW_HOME, no
database, no example DAGs) and reports its import errors as `file:LINE: message` and any pipeline
whose DAG did not appear. `graph` draws a pipeline's table dependencies as SVG plus Mermaid text.

The factory lives on the Airflow side (`dags/platform_dags/factory`); the DAGs folder being checked
comes first on sys.path, as in Airflow, and the project's own `dags/` serves as the fallback.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from infra.airflow_config import DAGS_DIR as DAGS
from infra.config import ROOT
from infra.errors import UserError
from platform_schema import shown_path

# Build output, git-ignored (/build/): drawing a graph must not leave the tree dirty for a protected deploy.
GRAPHS_DIR = ROOT / "build" / "graphs"

# Runs in the child: import the folder like the DAG processor does and print what it found.
_DAGBAG_SCRIPT = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
print("@@DAGBAG@@" + json.dumps({"dags": sorted(bag.dags), "import_errors": bag.import_errors}))
"""


def _factory(folder: Path):
    for path in (str(DAGS), str(folder)):  # the checked folder ends up first
        if path in sys.path:
            sys.path.remove(path)
        sys.path.insert(0, path)
    import platform_dags.factory as factory

    return factory



def pipeline_files_of(folder: Path) -> list[Path]:
    """Pipeline files of a DAGs folder (`pipelines/*.yaml`), or of a folder of pipeline files."""
    factory = _factory(folder)
    sub = folder / "pipelines"
    return factory.pipeline_files(sub if sub.is_dir() else folder)


def validate(path: str | None) -> int:
    folder = Path(path) if path else DAGS
    if not folder.is_dir():
        raise UserError(f"{path}: not a folder (give a DAGs folder, e.g. dags/)")
    factory = _factory(folder)
    problems: list[str] = []
    declared: dict[str, Path] = {}
    counts = {"tables": 0, "jobs": 0, "transfers": 0}
    for file in pipeline_files_of(folder):
        try:
            pipeline = factory.load_pipeline(file, shown_as=shown_path(file))
        except factory.PipelineError as exc:
            problems.extend(str(p) for p in exc.problems)
            continue
        declared[pipeline.name] = file
        for kind in counts:
            counts[kind] += len(getattr(pipeline, kind, ()))

    sub = folder / "pipelines" if (folder / "pipelines").is_dir() else folder
    for stray in sorted(sub.glob("*.yml")):
        problems.append(f"{shown_path(stray)}:1:1: ignored: pipeline files must end in .yaml (rename it to {stray.stem}.yaml)")

    report = _import_folder(folder)
    for file, error in sorted(report["import_errors"].items()):
        if "PipelineError:" in error:
            continue  # pipelines_check.py repeating the YAML problems printed above
        problems.append(_import_error_line(folder, file, error))
    for name, file in declared.items():
        if name not in report["dags"]:
            problems.append(f"{shown_path(file)}:1:1: DAG {name!r} was not built by any DAG file in {shown_path(folder)} (is pipelines_loader.py there?)")

    for line in problems:
        print(line)
    if problems:
        print(f"{len(problems)} problem(s)", file=sys.stderr)
        return 1
    words = {"tables": "tables", "jobs": "Spark jobs", "transfers": "transfers"}
    parts = ", ".join(f"{n} {words[kind]}" for kind, n in counts.items() if n or kind == "tables")
    print(f"OK: {len(declared)} pipeline(s) ({parts}), {len(report['dags'])} DAG(s) imported from {shown_path(folder)}, no import errors")
    return 0


def _items(pipeline) -> list:
    """The tables of an ETL pipeline, or the jobs of a Spark (`jobs:`) pipeline."""
    return pipeline.jobs if hasattr(pipeline, "jobs") else pipeline.tables


def _import_folder(folder: Path) -> dict:
    env = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="dags-validate-") as home:
        env.update(
            AIRFLOW_HOME=home,
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
            AIRFLOW__CORE__DAGS_FOLDER=str(folder.resolve()),
            PYTHONPATH=os.pathsep.join([str(folder.resolve()), str(DAGS), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        )
        env.pop("_AIRFLOW_PARSING_CONTEXT_DAG_ID", None)
        env.pop("_AIRFLOW_PARSING_CONTEXT_TASK_ID", None)
        proc = subprocess.run(
            [sys.executable, "-c", _DAGBAG_SCRIPT, str(folder.resolve())], env=env, capture_output=True, text=True, cwd=home
        )
    marker = next((line for line in proc.stdout.splitlines() if line.startswith("@@DAGBAG@@")), None)
    if proc.returncode != 0 or marker is None:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise UserError(f"importing {shown_path(folder)} with Airflow's DagBag failed: {last}")
    return json.loads(marker.removeprefix("@@DAGBAG@@"))


def _import_error_line(folder: Path, file: str, error: str) -> str:
    """`file:LINE: message` from a DagBag import error (a traceback, or a bare message)."""
    path = Path(file) if Path(file).is_absolute() else folder / file
    lines = [line for line in error.strip().splitlines() if line.strip()]
    message = lines[-1].strip() if lines else "import error"
    frames = re.findall(r'File "([^"]+)", line (\d+)', error)
    own = [int(n) for f, n in frames if Path(f).resolve() == path.resolve()]
    where = f"{shown_path(path)}:{own[-1]}" if own else shown_path(path)
    return f"{where}: {message}"


def graph(pipeline: str, *, out: str | None = None) -> int:
    """Write PIPELINE's dependency graph to OUT (default build/graphs/<name>.svg, git-ignored) and a `.mmd` beside it."""
    factory = _factory(DAGS)
    from platform_dags.factory.graph import to_mermaid, to_svg

    file = Path(pipeline)
    if not (file.suffix == ".yaml" and file.is_file()):
        file = DAGS / "pipelines" / f"{pipeline}.yaml"
        if not file.is_file():
            known = ", ".join(p.stem for p in factory.pipeline_files(DAGS / "pipelines")) or "none"
            raise UserError(f"no pipeline {pipeline!r}: give a name from {shown_path(DAGS / 'pipelines')} ({known}) or a path to a .yaml file")
    try:
        spec = factory.load_pipeline(file, shown_as=shown_path(file))
    except factory.PipelineError as exc:
        raise UserError(f"{shown_path(file)} is invalid; run invoke dags.validate. First problem: {exc.problems[0]}") from None
    svg = Path(out) if out else GRAPHS_DIR / f"{spec.name}.svg"
    if svg.suffix != ".svg":
        raise UserError(f"--out must end in .svg, got {out!r}")
    svg.parent.mkdir(parents=True, exist_ok=True)
    svg.write_text(to_svg(spec), encoding="utf-8")
    mmd = svg.with_suffix(".mmd")
    mmd.write_text(to_mermaid(spec), encoding="utf-8")
    if hasattr(spec, "transfers"):
        print(f"wrote {shown_path(svg)} and {shown_path(mmd)}: {len(spec.transfers)} transfers")
        return 0
    items = _items(spec)
    edges = sum(len(t.depends_on) for t in items)
    noun = "jobs" if hasattr(spec, "jobs") else "tables"
    print(f"wrote {shown_path(svg)} and {shown_path(mmd)}: {len(items)} {noun}, {edges} dependencies")
    return 0
