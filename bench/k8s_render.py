"""Benchmark of `invoke k8s.render` for dev, qa and prod against `helm template` of the same chart alone.

Prints, as medians over RUNS fresh processes (same machine, same run):
  (a) helm:   `helm template` of the pinned chart with each environment's values, three in a row;
  (b) render: `invoke k8s.render` (every GCP environment: values, helm, checks, kubernetes-validate, files);
the ratio (b)/(a) (the toolkit's overhead beside helm's own time), and the object counts per kind.

    python bench/k8s_render.py        # from the repository root; rewrites build/k8s/
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
ENVS = ("dev", "qa", "prod")


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    from infra import helm
    from infra.chart_values import chart_values
    from infra.config import load_environment
    from infra.k8s_render import BUILD, read

    envs = [load_environment(name) for name in ENVS]
    chart = helm.chart_package(envs[0].kubernetes.chart)
    with tempfile.TemporaryDirectory() as tmp:
        helm_commands = []
        for env in envs:
            values = Path(tmp) / f"{env.name}.json"
            values.write_text(json.dumps(chart_values(env)))
            helm_commands.append([helm.helm_bin(), "template", "airflow", str(chart), "--namespace", env.airflow.namespace,
                                  "--values", str(values), "--kube-version", f"{env.kubernetes.version}.0"])
        alone, render = [], []
        for _ in range(RUNS):
            alone.append(sum(timed(command) for command in helm_commands))
            render.append(timed([sys.executable, "-m", "invoke", "k8s.render"]))
    a, b = statistics.median(alone), statistics.median(render)
    print(f"helm template alone, 3 environments: {a:.2f} s (median of {RUNS})")
    print(f"invoke k8s.render, 3 environments:   {b:.2f} s (median of {RUNS})")
    print(f"ratio render / helm alone:           {b / a:.2f}")
    for env in ENVS:
        counts: dict[str, int] = {}
        for obj in read(BUILD / env):
            counts[obj["kind"]] = counts.get(obj["kind"], 0) + 1
        print(f"{env}: {sum(counts.values())} objects: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))


if __name__ == "__main__":
    main()
