# The platform image: Apache Airflow plus the providers, the Airflow-side packages and the system DAGs.
# Built by `invoke image ENV` (infra/image.py), tagged with the content hash of its inputs.
FROM apache/airflow:3.3.2-python3.11

# The versions the platform is tested with: the repository's constraints, the same file CI installs from.
# Providers: what the Airflow side imports (tests/gke/test_image.py checks), plus fab[oauth] for Google
# sign-in and git for the DAG repository's bundle. amazon: S3 → GCS transfers and EMR Serverless jobs.
COPY constraints.txt /opt/platform/constraints.txt
RUN pip install --no-cache-dir -c /opt/platform/constraints.txt apache-airflow==3.3.2 apache-airflow-providers-google apache-airflow-providers-amazon apache-airflow-providers-cncf-kubernetes apache-airflow-providers-slack apache-airflow-providers-pagerduty apache-airflow-providers-postgres apache-airflow-providers-git apache-airflow-providers-fab[oauth]

# The Airflow-side packages on PYTHONPATH (infra.airflow_config.IMAGE_LIB_DIR), importable by every
# component and task pod: the shared pipeline-validation package, and the probe, factory and notifiers.
COPY platform_schema/ /opt/platform/lib/platform_schema/
COPY dags/platform_dags/ /opt/platform/lib/platform_dags/
# The system DAGs, their own bundle (infra.airflow_config.IMAGE_DAGS_DIR: a LocalDagBundle points here);
# the users' pipelines come from their repository through GitDagBundle.
COPY dags/system_canary.py dags/system_queued_watch.py /opt/platform/system_dags/
ENV PYTHONPATH=/opt/platform/lib
