"""The pipeline factory: one Airflow DAG per pipeline YAML file, validated before anything is built.

Two DAG files use it (both beside the `pipelines/` folder):

* `pipelines_loader.py` calls `load_dags`: it builds every *valid* pipeline and skips invalid ones,
  so a broken file never hides another pipeline. On a worker (Airflow sets the parsing context to
  the task's DAG) it reads only `pipelines/<dag_id>.yaml`.
* `pipelines_check.py` calls `check_folder`: it builds nothing and raises one error listing every
  problem of every invalid file as `pipelines/<file>.yaml:LINE:COL: message`, so the Airflow UI
  shows them under *Import errors* for that file.

Why two files: Airflow records an import error per DAG file and, in 3.x, marks every DAG of a file
with an import error stale (unscheduled). Raising from the loader itself would therefore hide the
good pipelines; raising from a second file that owns no DAG reports the bad YAML and leaves them be.
The DAG id is the file name (`pipelines/nightly.yaml` → `nightly`), which is what lets a worker open
one file instead of all of them.
"""

from __future__ import annotations

import logging
from pathlib import Path

from platform_dags.factory.build import STEPS, build_dag
from platform_dags.factory.source import PipelineError, Problem
from platform_dags.factory.spec import Pipeline
from platform_dags.factory.validate import load_pipeline

__all__ = [
    "STEPS",
    "Pipeline",
    "PipelineError",
    "Problem",
    "build_dag",
    "check_folder",
    "load_dags",
    "load_pipeline",
    "pipeline_files",
]

log = logging.getLogger(__name__)


def pipeline_files(folder: Path) -> list[Path]:
    """The pipeline files of a folder: `*.yaml` directly in it, in name order."""
    return sorted(p for p in Path(folder).glob("*.yaml") if p.is_file())


def _parsing_dag_id() -> str | None:
    from airflow.sdk import get_parsing_context

    return get_parsing_context().dag_id


def load_dags(folder: Path) -> dict:
    """`{dag_id: DAG}` for every valid pipeline in `folder` (only the running task's on a worker).

    Invalid files are skipped with a log line; `check_folder` reports them as import errors.
    """
    folder = Path(folder)
    dag_id = _parsing_dag_id()
    if dag_id is not None:
        # A worker runs one task: build its DAG only, and do not even read the other files.
        own = folder / f"{dag_id}.yaml"
        files = [own] if own.is_file() else []
    else:
        files = pipeline_files(folder)
    dags = {}
    for path in files:
        shown = f"{folder.name}/{path.name}"
        try:
            pipeline = load_pipeline(path, shown_as=shown)
        except PipelineError as exc:
            log.error("pipeline %s skipped: %d problem(s), listed as the import error of pipelines_check.py; first: %s", shown, len(exc.problems), exc.problems[0])
            continue
        dags[pipeline.name] = build_dag(pipeline)
    return dags


def check_folder(folder: Path) -> None:
    """Raise PipelineError listing every problem of every pipeline file in `folder`; None if all valid."""
    if _parsing_dag_id() is not None:
        return  # a worker runs a task of some DAG: this file has none
    folder = Path(folder)
    problems: list[Problem] = []
    for path in pipeline_files(folder):
        try:
            load_pipeline(path, shown_as=f"{folder.name}/{path.name}")
        except PipelineError as exc:
            problems.extend(exc.problems)
    if problems:
        raise PipelineError(problems)
