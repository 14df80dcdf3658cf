"""Airflow DAG file: one DAG per pipeline file in pipelines/ (the YAML ETL pipeline factory).

Builds every valid `pipelines/<name>.yaml` as DAG `<name>`; an invalid file is skipped here and
reported by `pipelines_check.py` as an import error, so it never hides another pipeline. On a worker
only the running task's pipeline file is read. The format is documented in
`platform_dags/factory/spec.py`; `invoke dags.validate` checks it before a merge.
"""

from pathlib import Path

from platform_dags.factory import load_dags

globals().update(load_dags(Path(__file__).parent / "pipelines"))
