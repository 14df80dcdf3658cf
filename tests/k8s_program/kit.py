"""Running the k8s/ program under Pulumi's mocks and reading what it registered, request by request.

`run(env, chart_objects)` builds one AirflowPlatform in-process (Pulumi's Python SDK runs it on asyncio)
and returns every RegisterResource request the engine would have received: type, name, URN, parent,
dependencies, options, and the inputs both as values and with Pulumi's secret markers kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
from google.protobuf import json_format
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc, settings

from infra import naming

SECRET_SIG = rpc._special_sig_key  # noqa: SLF001 - the wire marker of a secret value
SECRET_VALUE = rpc._special_secret_sig  # noqa: SLF001
ROOT_STACK = "pulumi:pulumi:Stack"


@dataclass
class Registered:
    type: str
    name: str
    urn: str
    parent: str
    dependencies: list[str]
    inputs: dict
    wire: dict  # the inputs as sent, secret markers included
    delete_before_replace: bool
    replace_on_changes: list[str]
    additional_secret_outputs: list[str]
    custom: bool = True

    def secret_paths(self) -> list[str]:
        found: list[str] = []

        def walk(value, path):
            if isinstance(value, dict):
                if value.get(SECRET_SIG) == SECRET_VALUE:
                    found.append(path)
                    return
                for key, item in value.items():
                    walk(item, f"{path}.{key}" if path else key)
            elif isinstance(value, list):
                for i, item in enumerate(value):
                    walk(item, f"{path}[{i}]")

        walk(self.wire, "")
        return found


class Values(pulumi.runtime.Mocks):
    """Each resource's state is its inputs (what a real apply would echo back)."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        return [f"{args.name}-id", args.inputs]

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}


class RecordingMonitor(pulumi_mocks.MockMonitor):
    def __init__(self, mocks):
        super().__init__(mocks)
        self.registered: list[Registered] = []

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        # As the engine builds it: the parent's whole qualified type, and nothing for the root stack
        # (the SDK's mock keeps only the last parent type and prefixes the root stack's).
        if parent:
            qualified = parent.split("::")[2]
            if qualified != ROOT_STACK:
                type_ = f"{qualified}${type_}"
        return "urn:pulumi:" + "::".join([settings.get_stack(), settings.get_project(), type_, name])

    def RegisterResource(self, request):  # noqa: N802 - the gRPC method's name
        response = super().RegisterResource(request)
        if request.type != ROOT_STACK:
            self.registered.append(
                Registered(
                    type=request.type,
                    name=request.name,
                    urn=response.urn,
                    parent=request.parent,
                    dependencies=list(request.dependencies),
                    inputs=rpc.deserialize_properties(request.object),
                    wire=json_format.MessageToDict(request.object),
                    delete_before_replace=request.deleteBeforeReplace,
                    replace_on_changes=list(request.replaceOnChanges),
                    additional_secret_outputs=list(request.additionalSecretOutputs),
                    custom=request.custom,
                )
            )
        return response


@dataclass
class Program:
    registered: list[Registered]
    reads: list[str] = field(default_factory=list)  # secret ids read from "Secret Manager"

    def by_urn(self) -> dict[str, Registered]:
        return {r.urn: r for r in self.registered}

    def kubernetes(self) -> list[Registered]:
        return [r for r in self.registered if r.type.startswith("kubernetes:")]


def run(env, chart_objects: list[dict], *, sql_connection_name: str = "acme-airflow-x:europe-west1:af-x-pg") -> Program:
    """The program for `env` under mocks; every stack gets fresh settings and a fresh root stack."""
    from k8s.airflow_platform import AirflowPlatform, AirflowPlatformArgs
    from infra.cluster_resources import component_name

    reads: list[str] = []

    def read_secret(secret_id: str) -> str:
        reads.append(secret_id)
        return f"value-of-{secret_id}"

    monitor = RecordingMonitor(Values())
    settings.set_root_resource(None)
    pulumi.runtime.set_mocks(Values(), project=naming.PULUMI_PROJECT, stack=env.name, preview=False, monitor=monitor)
    args = AirflowPlatformArgs(env=env, chart_objects=chart_objects, sql_connection_name=sql_connection_name, read_secret=read_secret)

    pulumi_mocks._sync_await(pulumi_mocks.run_pulumi_func(lambda: AirflowPlatform(component_name(env), args)))  # noqa: SLF001
    return Program(monitor.registered, reads)
