"""helm and the pinned chart package: where to find them, and `helm template` run on them.

helm: `HELM_BIN`, else `helm` on PATH, else `.cache/bin/helm` (what `.ci/install-helm` installs).
The chart: `AIRFLOW_CHART_TGZ`, else `airflow-<version>.tgz` in `AIRFLOW_CHART_DIR`, in
`../shared/charts/` beside the project or in `.cache/charts/`, else `helm pull` of the pinned version
into `.cache/charts/`. Whatever the source, the
package's sha256 must be the model's pin: a different package is refused, never rendered.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from infra.config import ROOT, ChartPin
from infra.errors import UserError

CHART_REPO = "https://airflow.apache.org"
CACHE = ROOT / ".cache"
SHARED_CHARTS = ROOT.parent / "shared" / "charts"


def helm_bin() -> str:
    """The helm executable to run; a UserError saying how to get one when there is none."""
    configured = os.environ.get("HELM_BIN")
    if configured:
        if not os.access(configured, os.X_OK):
            raise UserError(f"HELM_BIN={configured} is not an executable file")
        return configured
    found = shutil.which("helm") or (str(CACHE / "bin" / "helm") if os.access(CACHE / "bin" / "helm", os.X_OK) else None)
    if not found:
        raise UserError("helm not found: run .ci/install-helm, put helm (>= 3.19) on PATH, or set HELM_BIN")
    return found


def _run(args: list[str], what: str) -> str:
    result = subprocess.run(args, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise UserError(f"{what} failed: {detail[-1] if detail else f'exit {result.returncode}'}")
    return result.stdout


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _pull(pin: ChartPin) -> Path:
    target = CACHE / "charts"
    target.mkdir(parents=True, exist_ok=True)
    _run([helm_bin(), "pull", "airflow", "--repo", CHART_REPO, "--version", pin.version, "--destination", str(target)],
         f"helm pull airflow {pin.version} (set AIRFLOW_CHART_TGZ to a local package where {CHART_REPO} is unreachable)")
    return target / f"airflow-{pin.version}.tgz"


def chart_package(pin: ChartPin) -> Path:
    """The chart package for `pin`, verified against its digest."""
    configured = os.environ.get("AIRFLOW_CHART_TGZ")
    if configured:
        path = Path(configured)
        if not path.is_file():
            raise UserError(f"AIRFLOW_CHART_TGZ={configured}: no such file")
    else:
        folders = [Path(os.environ["AIRFLOW_CHART_DIR"])] if os.environ.get("AIRFLOW_CHART_DIR") else []
        folders += [SHARED_CHARTS, CACHE / "charts"]
        candidates = [folder / f"airflow-{pin.version}.tgz" for folder in folders]
        path = next((p for p in candidates if p.is_file()), None) or _pull(pin)
    digest = sha256(path)
    if digest != pin.sha256:
        raise UserError(
            f"{path}: sha256 {digest} is not the pinned {pin.sha256} of chart {pin.version} "
            "(kubernetes.chart in the environment file); refusing to render it"
        )
    return path


def template(chart: Path, *, release: str, namespace: str, values_file: Path, kube_version: str) -> str:
    """`helm template` of `chart`: the manifests as one multi-document YAML string."""
    return _run(
        [
            helm_bin(), "template", release, str(chart),
            "--namespace", namespace,
            "--values", str(values_file),
            "--kube-version", f"{kube_version}.0",
        ],
        "helm template",
    )
