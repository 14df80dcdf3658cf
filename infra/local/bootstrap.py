"""One-time setup of a fresh local metadata database: the canary's pool and the example pipeline's data.

    python -m infra.local.bootstrap <folder>/run/_schema.json

Run by `deploy` in the background (with the rendered Airflow environment) while the components
start; it marks the schema file as bootstrapped when done, so it runs once per database. Both steps
are the Airflow side's own code (`platform_dags`), which needs no Airflow import for them: quick.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def main(marker: Path) -> None:
    from platform_dags import probe
    from platform_dags.sample_data import load_sample_source

    if probe.main(["setup"]):  # the canary's own pool, so a flood of tasks never starves the proof
        raise SystemExit("creating the canary pool failed")
    # Replaces the four sample tables: safe to rerun, and it runs once per fresh database anyway.
    counts = load_sample_source(os.environ["AIRFLOW_CONN_SAMPLE_SOURCE"])
    print("sample data:", ", ".join(f"{table}: {n}" for table, n in counts.items()))
    data = json.loads(marker.read_text())
    data["bootstrapped"] = True
    marker.write_text(json.dumps(data))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
