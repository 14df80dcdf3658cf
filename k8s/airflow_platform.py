"""`AirflowPlatform`: the cluster side of one environment, as one Pulumi component.

Children, in order: the namespace; the Kubernetes service accounts `airflow` and `airflow-stats`, each
bound to its Google service account by Workload Identity; the Kubernetes Secrets copied from Secret
Manager at deploy time (held as Pulumi secrets); the Cloud SQL Auth Proxy (Deployment + Service); the
migration Job; then every object the chart rendered, each its own resource and each depending on the
Job, so none is applied before migrations completed (the chart's pods wait for migrations in an init
container, and Pulumi waits for those pods: applying them first would deadlock). With `airflow.ui.host`:
a Google-managed certificate and an Ingress on the stacks' static address.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field
from typing import Callable

import pulumi

from infra import naming
from infra.cluster_resources import COMPONENT_TYPE, Key, later, prerequisites
from infra.config import Environment
from k8s import manifests

# API groups pulumi-kubernetes has typed classes for (module under pulumi_kubernetes); others are custom resources.
TYPED_GROUPS = {
    "": "core",
    "apps": "apps",
    "batch": "batch",
    "policy": "policy",
    "rbac.authorization.k8s.io": "rbac",
    "networking.k8s.io": "networking",
    "autoscaling": "autoscaling",
    "scheduling.k8s.io": "scheduling",
    "storage.k8s.io": "storage",
}


@dataclass(frozen=True)
class AirflowPlatformArgs:
    env: Environment  # image tag already resolved (infra.cluster_resources.with_image_tag)
    chart_objects: list[dict]  # infra.k8s_render.render(env).objects
    sql_connection_name: str  # terraform output: `project:region:instance`
    read_secret: Callable[[str], str] = field(repr=False)  # Secret Manager secret id -> latest value


def _snake(key: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


def create(obj: dict, opts: pulumi.ResourceOptions) -> pulumi.CustomResource:
    """One Kubernetes object as its typed pulumi-kubernetes resource, named by `infra.cluster_resources.Key`."""
    key = Key.of(obj)
    group, _, version = key.api_version.rpartition("/")
    if group not in TYPED_GROUPS:
        from pulumi_kubernetes.apiextensions import CustomResource

        return CustomResource(key.resource_name, api_version=key.api_version, kind=key.kind, metadata=obj["metadata"],
                              spec=obj.get("spec"), opts=opts)
    module = importlib.import_module(f"pulumi_kubernetes.{TYPED_GROUPS[group]}.{version}")
    fields = {_snake(k): v for k, v in obj.items() if k not in ("apiVersion", "kind")}
    return getattr(module, key.kind)(key.resource_name, opts=opts, **fields)


class AirflowPlatform(pulumi.ComponentResource):
    """Everything Airflow needs inside the cluster; `migration_job` is what every chart object waits for."""

    def __init__(self, name: str, args: AirflowPlatformArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        env = args.env
        self.resources: dict[Key, pulumi.CustomResource] = {}
        built = {Key.of(obj): obj for obj in self._prerequisite_objects(args)}
        if list(built) != prerequisites(env):
            raise RuntimeError("the program and infra.cluster_resources.prerequisites disagree: update both")

        previous: list[pulumi.Resource] = []
        for key in prerequisites(env):
            opts_ = pulumi.ResourceOptions(parent=self, depends_on=previous[-1:])
            if key.kind == "Job":
                # A Job's pod template cannot change in place: a new image (or any change) replaces the Job,
                # deleting the old one first because its name is fixed, so the migrations run again. Pulumi
                # waits for the Job to complete before creating anything that depends on it.
                opts_ = pulumi.ResourceOptions.merge(opts_, pulumi.ResourceOptions(replace_on_changes=["spec"], delete_before_replace=True))
            self.resources[key] = create(built[key], opts_)
            previous.append(self.resources[key])
        self.migration_job = previous[-1]

        for obj in args.chart_objects:
            self.resources[Key.of(obj)] = create(obj, pulumi.ResourceOptions(parent=self, depends_on=[self.migration_job]))

        self.ui_host = env.airflow.ui.host
        if self.ui_host:
            api_server = self.resources[Key("v1", "Service", naming.API_SERVER_SERVICE, naming.namespace(env))]
            certificate = manifests.managed_certificate(env)
            self.resources[Key.of(certificate)] = create(certificate, pulumi.ResourceOptions(parent=self, depends_on=[api_server]))
            ingress = manifests.ingress(env)
            self.resources[Key.of(ingress)] = create(
                ingress, pulumi.ResourceOptions(parent=self, depends_on=[self.resources[Key.of(certificate)]])
            )
        expected = prerequisites(env) + later(env, args.chart_objects)
        if list(self.resources) != expected:
            raise RuntimeError("the program and infra.cluster_resources disagree on what it registers: update both")

        self.namespace = naming.namespace(env)
        self.register_outputs(
            {"namespace": self.namespace, "migration_job": naming.migration_job(env), "ui_host": self.ui_host}
        )

    @staticmethod
    def _prerequisite_objects(args: AirflowPlatformArgs) -> list[dict]:
        env = args.env
        return [
            manifests.namespace(env),
            manifests.service_account(env, naming.KUBERNETES_SERVICE_ACCOUNT, naming.airflow_service_account(env)),
            manifests.service_account(env, naming.STATS_KUBERNETES_SERVICE_ACCOUNT, naming.stats_service_account_email(env)),
            *manifests.secrets(env, args.read_secret),
            manifests.proxy_deployment(env, args.sql_connection_name),
            manifests.proxy_service(env),
            manifests.migration_job(env),
        ]
