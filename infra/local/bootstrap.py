"""One-time setup of a fresh local metadata database: the example pipeline's sample data.

    python -m infra.local.bootstrap <folder>/run/_schema.json

Run by `deploy` in the background (with the rendered Airflow environment) while the components
start; it marks the schema file as bootstrapped when done, so it runs once per database. The loader is
the Airflow side's own code (`platform_dags`), which needs no Airflow import: quick. Pools, variables
and connections are not made here: `deploy` creates them through the REST API once the API server
answers (`sync_objects`, the same code as `invoke bootstrap`).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from infra.config import Environment


def main(marker: Path) -> None:
    from platform_dags.sample_data import load_sample_source

    # Replaces the four sample tables: safe to rerun, and it runs once per fresh database anyway.
    counts = load_sample_source(os.environ["AIRFLOW_CONN_SAMPLE_SOURCE"])
    print("sample data:", ", ".join(f"{table}: {n}" for table, n in counts.items()))
    data = json.loads(marker.read_text())
    data["bootstrapped"] = True
    marker.write_text(json.dumps(data))


def api_url(env: Environment) -> str:
    return f"http://127.0.0.1:{env.local.api_port}"


def sync_objects(env: Environment, admin_password: str, console, *, wait_for_canary: bool = False) -> int:
    """The declared pools (the canary's included), variables and connections, through the local REST API."""
    from infra.airflow_config import ADMIN_USER
    from infra.bootstrap import bootstrap, no_secrets_here, password_token

    url = api_url(env)
    return bootstrap(
        env, base_url=url, token=lambda: password_token(url, ADMIN_USER, admin_password),
        read_secret=no_secrets_here(env), console=console, wait_for_canary=wait_for_canary,
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
