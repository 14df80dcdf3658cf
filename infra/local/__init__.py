"""The local runtime: the whole platform on one machine (embedded PostgreSQL, supervised Airflow).

`runtime` holds the commands (deploy, destroy, status, logs); `postgres`, `processes` and `supervisor`
are the pieces; every Airflow setting and probe comes from `infra.airflow_config`.
"""
