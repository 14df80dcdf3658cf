# The platform image: Apache Airflow plus the providers, the Airflow-side package and the system DAGs.
# Built by `invoke image ENV` (infra/image.py), tagged with the content hash of its inputs.
FROM apache/airflow:3.3.2-python3.11

# The versions the platform is tested with: the repository's constraints, the same file CI installs from.
COPY constraints.txt /opt/platform/constraints.txt
RUN pip install --no-cache-dir -c /opt/platform/constraints.txt apache-airflow==3.3.2 apache-airflow-providers-google apache-airflow-providers-cncf-kubernetes apache-airflow-providers-slack apache-airflow-providers-pagerduty apache-airflow-providers-postgres apache-airflow-providers-git apache-airflow-providers-fab[oauth]

# TODO(issue 10): the shared pipeline-validation package, once it has a name, e.g.
# COPY <validation-package>/ /opt/platform/lib/<validation-package>/

# The Airflow-side package (probe, pipeline factory, notifiers), importable by every component and task pod.
COPY dags/platform_dags/ /opt/platform/lib/platform_dags/
# The system DAGs, their own bundle (`[dag_processor] dag_bundle_config_list` points a LocalDagBundle here);
# the users' pipelines come from their repository through GitDagBundle.
COPY dags/system_canary.py dags/system_queued_watch.py /opt/platform/system_dags/
ENV PYTHONPATH=/opt/platform/lib
