"""Benchmark of `invoke synth --all` against the floor of loading the provider bindings.

Prints, as medians over RUNS fresh processes:
  (a) floor: a process that only imports the CDK Terrain modules the stacks use;
  (b) cold:  `invoke synth --all` with cdktf.out removed (every stack synthesized);
  (c) warm:  `invoke synth --all` again with nothing changed (served from the content-hash cache);
  (d) the floor of any task: `invoke --list` (interpreter, invoke, tasks.py), run between the warm runs;
and the ratios the project targets: (b)/(a) <= 1.5 and (c) <= 0.3 s. (c)/(d) and (c) - (d), the
unchanged path's own cost over the floor, say how much of (c) the cache check could still remove;
they hold when a busy machine moves (c) itself.

    python bench/synth.py            # from the repository root; rewrites cdktf.out/
"""

from __future__ import annotations

import ast
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BINDINGS = ("cdktn", "cdktn_provider_google", "constructs")
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
ENV = {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
# Measure what a user's shell does: Python caches bytecode. (Some CI images disable it, which adds the
# compile time of infra/ and stacks/ to every run: about 0.05 s on the unchanged path.)
ENV.pop("PYTHONDONTWRITEBYTECODE", None)


def provider_imports() -> list[str]:
    """Every `cdktn*`/`constructs` module the stacks import, read from their source."""
    modules: set[str] = set()
    for path in sorted((ROOT / "stacks").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in BINDINGS:
                modules.add(node.module)
    return sorted(modules)


def timed(command: list[str], before=None) -> float:
    if before:
        before()
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, env=ENV, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def median_of(command: list[str], before=None) -> float:
    return statistics.median(timed(command, before) for _ in range(RUNS))


def main() -> int:
    modules = provider_imports()
    floor_cmd = [sys.executable, "-c", "; ".join(f"import {m}" for m in modules)]
    synth_cmd = [sys.executable, "-m", "invoke", "synth", "--all"]
    list_cmd = [sys.executable, "-m", "invoke", "--list"]
    outdir = ROOT / "cdktf.out"

    def remove_output() -> None:
        shutil.rmtree(outdir, ignore_errors=True)

    print(f"{RUNS} runs each; floor imports {len(modules)} modules: {', '.join(modules)}")
    floor = median_of(floor_cmd)
    cold = median_of(synth_cmd, before=remove_output)
    # The last cold run left a current cache behind; warm runs and the floor alternate, so load hits both.
    warm_runs, list_runs = [], []
    for _ in range(RUNS):
        warm_runs.append(timed(synth_cmd))
        list_runs.append(timed(list_cmd))
    warm, floor_list = statistics.median(warm_runs), statistics.median(list_runs)
    print(f"(a) floor, import provider modules : {floor:6.2f} s")
    print(f"(b) invoke synth --all, cold        : {cold:6.2f} s")
    print(f"(c) invoke synth --all, unchanged   : {warm:6.2f} s")
    print(f"(d) floor, invoke --list            : {floor_list:6.2f} s")
    print(f"(b)/(a) = {cold / floor:.2f}  (target <= 1.5)")
    print(f"(c)     = {warm:.2f} s  (target <= 0.3 s)")
    print(f"(c)/(d) = {warm / floor_list:.2f}  ((c) - (d) = {warm - floor_list:.2f} s over the floor of any task)")
    return 0 if cold / floor <= 1.5 and warm <= 0.3 else 1


if __name__ == "__main__":
    sys.exit(main())
