"""Library code of the Airflow side: ETL operators, alerts, the probe command and sample data.

It lives inside the DAGs folder (``dags/.airflowignore`` keeps the DAG processor out of it) so the same
import works locally and in the Airflow image. It never imports the toolkit (``infra/``): settings
arrive as Airflow configuration, section ``[platform]`` (env ``AIRFLOW__PLATFORM__<KEY>``):

=========================== ================= ==========================================================
key                         default           meaning
=========================== ================= ==========================================================
environment                 local             environment name, shown in alerts
canary_interval_minutes     5                 how often ``system_canary`` runs
canary_max_age_minutes      15                probe answer "not scheduling" after this long
canary_pool                 system_canary     pool of the canary task (created by the probe/bootstrap)
queued_warn_minutes         15                ``system_queued_watch`` lists tasks queued longer
api_url                     http://localhost:8080  Airflow API server the watch calls (REST API v2)
api_username / api_password (empty)           credentials for ``POST /auth/token``; empty = no token
                                              (SimpleAuthManager with all-admins, local only)
api_token                   (empty)           a ready JWT instead of username/password
slack_conn_id               slack_default     Slack webhook connection; may contain ``{channel}``
slack_channel               (empty)           channel for system alerts (empty = no Slack)
pagerduty_conn_id           pagerduty_{service}  PagerDuty Events connection; may contain ``{service}``
pagerduty_service           (empty)           service paged by system alerts (empty = no page)
=========================== ================= ==========================================================
"""

from __future__ import annotations

DEFAULTS = {
    "environment": "local",
    "canary_interval_minutes": "5",
    "canary_max_age_minutes": "15",
    "canary_pool": "system_canary",
    "queued_warn_minutes": "15",
    "api_url": "http://localhost:8080",
    "api_username": "",
    "api_password": "",
    "api_token": "",
    "slack_conn_id": "slack_default",
    "slack_channel": "",
    "pagerduty_conn_id": "pagerduty_{service}",
    "pagerduty_service": "",
}


def setting(key: str) -> str:
    """One ``[platform]`` setting, with this package's default."""
    from airflow.configuration import conf

    return conf.get("platform", key, fallback=DEFAULTS.get(key, ""))


def int_setting(key: str) -> int:
    """An integer ``[platform]`` setting; a bad value names the key."""
    value = setting(key)
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"[platform] {key} must be an integer, got {value!r}") from None
