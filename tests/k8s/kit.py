"""Reading rendered manifests the way a reviewer would: objects by kind/name, pods, containers, airflow.cfg."""

from __future__ import annotations

import configparser
import shutil
from pathlib import Path

import yaml

from infra import helm
from infra.config import load_environment
from infra.errors import UserError
from tests.ci import missing

ROOT = Path(__file__).resolve().parents[2]
GCP_ENVS = ("dev", "qa", "prod")


def require_helm_and_chart() -> None:
    """Skip without helm or the chart locally; under CI=true their absence fails the run instead."""
    try:
        helm.helm_bin()
        helm.chart_package(load_environment("prod").kubernetes.chart)
    except UserError as exc:
        missing("helm and the pinned chart", str(exc))


class Manifests:
    """The objects of one rendered environment."""

    def __init__(self, env_name: str, folder: Path) -> None:
        self.env = load_environment(env_name)
        self.folder = folder
        self.objects = [yaml.safe_load(p.read_text()) for p in sorted(folder.glob("*.yaml"))]

    def of_kind(self, kind: str) -> dict[str, dict]:
        return {o["metadata"]["name"]: o for o in self.objects if o["kind"] == kind}

    def get(self, kind: str, name: str) -> dict:
        found = self.of_kind(kind)
        assert name in found, f"{self.env.name}: no {kind}/{name}; have {sorted(found)}"
        return found[name]

    def container(self, deployment: str, name: str) -> dict:
        spec = self.get("Deployment", deployment)["spec"]["template"]["spec"]
        by_name = {c["name"]: c for c in spec["containers"]}
        assert name in by_name, f"{self.env.name}: {deployment} has containers {sorted(by_name)}"
        return by_name[name]

    def pod_template_file(self) -> dict:
        """The KubernetesExecutor's task pod (a file inside the config ConfigMap)."""
        return yaml.safe_load(self.get("ConfigMap", "airflow-config")["data"]["pod_template_file.yaml"])

    def pod_specs(self) -> dict[str, dict]:
        """Every pod spec that will run: workloads' templates and the task pod template."""
        pods = {f"{o['kind']}/{o['metadata']['name']}": o["spec"]["template"]["spec"]
                for o in self.objects if o["kind"] in ("Deployment", "StatefulSet", "Job", "DaemonSet")}
        if "pod_template_file.yaml" in self.get("ConfigMap", "airflow-config")["data"]:
            pods["task pod template"] = self.pod_template_file()["spec"]
        return pods

    def airflow_cfg(self) -> configparser.ConfigParser:
        parser = configparser.ConfigParser(interpolation=None)
        parser.optionxform = str
        parser.read_string(self.get("ConfigMap", "airflow-config")["data"]["airflow.cfg"])
        return parser


def render_into(env_names, outdir: Path) -> dict[str, Manifests]:
    from infra.k8s_render import render

    for name in env_names:
        render(load_environment(name), outdir)
    return {name: Manifests(name, outdir / name) for name in env_names}


def cleanup(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
