"""Airflow DAG file that builds no DAG: it reports invalid pipeline YAML as *its* import error.

The Airflow UI then lists, under Import errors for this file, one `pipelines/<file>.yaml:LINE:COL:
message` line per problem. A separate file, because Airflow marks every DAG of a file with an import
error stale: raising from `pipelines_loader.py` would stop the good pipelines too.
"""

from pathlib import Path

from platform_dags.factory import check_folder

check_folder(Path(__file__).parent / "pipelines")
