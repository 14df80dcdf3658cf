"""Airflow's local-settings hook (imported by every Airflow process): keep probe chatter out of the logs.

The scheduler's health server (`[scheduler] enable_health_check`) is a stdlib `BaseHTTPRequestHandler`
that writes one access line per request to stderr, and Airflow has no option to quiet it: with a probe
every 5 s, those lines were most of the scheduler's log. Successful `GET /health` requests are not
logged any more; failed ones (503: the scheduler stopped heart-beating) still are, which is what a
person reading the log wants. Airflow's API server already skips its own health path the same way.
This module is found on the DAGs folder's path and imports nothing from Airflow (it runs during
Airflow's own start-up); `.airflowignore` keeps the DAG processor from parsing it.
"""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler

__all__: list[str] = []  # no cluster policies here: nothing for Airflow to pick up as one
PROBE_PATH = "/health"
_log_request = BaseHTTPRequestHandler.log_request


def _log_request_unless_probe(self: BaseHTTPRequestHandler, code: int | str = "-", size: int | str = "-") -> None:
    try:
        ok = int(code) == 200
    except (TypeError, ValueError):
        ok = False
    if not (ok and getattr(self, "path", None) == PROBE_PATH):
        _log_request(self, code, size)


BaseHTTPRequestHandler.log_request = _log_request_unless_probe  # type: ignore[method-assign]
