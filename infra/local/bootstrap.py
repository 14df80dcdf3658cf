"""One-time setup of a fresh local metadata database: pools, and the example pipeline's sample data.

    python -m infra.local.bootstrap <folder>/run/_schema.json

Run by `deploy` in the background (with the rendered Airflow environment) while the components
start; it marks the schema file as bootstrapped when done, so it runs once per database.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

# The canary gets a pool of its own so a flood of ordinary tasks can never starve the probe's proof.
POOLS = {"system_canary": (1, "system_canary only: the scheduler probe's proof of scheduling")}


def main(marker: Path) -> None:
    from airflow.models.pool import Pool

    for name, (slots, description) in POOLS.items():
        Pool.create_or_update_pool(name, slots, description, include_deferred=False)
        print(f"pool {name}: {slots} slot(s)")
    # Replaces the four sample tables: safe to rerun, and it runs once per fresh database anyway.
    from platform_dags.sample_data import load_sample_source

    counts = load_sample_source(os.environ["AIRFLOW_CONN_SAMPLE_SOURCE"])
    print("sample data:", ", ".join(f"{table}: {n}" for table, n in counts.items()))
    data = json.loads(marker.read_text())
    data["bootstrapped"] = True
    marker.write_text(json.dumps(data))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
