"""The environment: one file of environments/, composed of the GCP-side and Airflow-side models."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from infra.config.airflow_objects import Bootstrap
from infra.config.airflow_side import Airflow, Alerts, Kubernetes, Local, SignIn, Spark
from infra.config.base import Labels, StrictModel
from infra.config.gcp import Database, Gcp, Gke, Logging, Network, default_sinks
from platform_schema import fail_at


class Environment(StrictModel):
    """One environment, as read from environments/<name>.yaml."""

    name: str = Field(description="The environment's name: its file name without .yaml.")
    runtime: Literal["gke", "local"] = Field(
        description="gke: GCP infrastructure and a cluster; local: everything on this machine."
    )
    protected: bool = Field(
        default=False,
        description="Deploys need a clean tree on main and a typed confirmation; destroy needs --force.",
    )
    labels: Labels = Field(default_factory=dict, description="Labels put on every GCP resource that takes them.")
    gcp: Gcp | None = Field(default=None, description="Project, region and state bucket (runtime gke only).")
    network: Network = Field(default_factory=Network, description="VPC ranges and control-plane access.")
    gke: Gke = Field(default_factory=Gke, description="The GKE cluster and its node pools.")
    database: Database = Field(default_factory=Database, description="Cloud SQL for PostgreSQL (metadata DB).")
    logging: Logging = Field(default_factory=Logging, description="Log sinks, archive bucket and retention.")
    airflow: Airflow = Field(default_factory=Airflow, description="Airflow itself.")
    alerts: Alerts = Field(default_factory=Alerts, description="Where alerts go.")
    kubernetes: Kubernetes = Field(default_factory=Kubernetes, description="The cluster side: chart pin, image, resources (runtime gke).")
    local: Local = Field(default_factory=Local, description="Ports and folder of the local runtime (runtime local).")
    signin: SignIn = Field(
        default_factory=SignIn, description="Google accounts and domains per Airflow role (runtime gke)."
    )
    bootstrap: Bootstrap = Field(
        default_factory=Bootstrap, description="Pools, variables and connections `invoke bootstrap` creates in Airflow."
    )

    spark: Spark | None = Field(default=None, description="Spark jobs: where they run (omit to disable Spark).")

    @model_validator(mode="before")
    @classmethod
    def _sinks_follow_namespace(cls, data: Any) -> Any:
        """Without sinks of its own, an environment's airflow sink selects its own namespace."""
        if not isinstance(data, dict):
            return data
        logging, airflow = data.get("logging", {}), data.get("airflow", {})
        if isinstance(logging, dict) and "sinks" not in logging and isinstance(airflow, dict):
            namespace = airflow.get("namespace", Airflow.model_fields["namespace"].default)
            if isinstance(namespace, str):
                return {**data, "logging": {**logging, "sinks": default_sinks(namespace)}}
        return data

    @model_validator(mode="after")
    def _runtime_sections(self) -> Environment:
        if self.runtime == "gke" and self.gcp is None:
            raise fail_at("gcp", "required for runtime gke")
        if self.runtime == "local" and self.gcp is not None:
            raise fail_at("gcp", "only used with runtime gke, remove it")
        if self.spark is not None and self.spark.target == "dataproc" and self.runtime != "gke":
            raise fail_at("spark", "target dataproc needs runtime gke (a GCP project)")
        if self.spark is not None and self.spark.target == "local" and self.runtime == "gke":
            # The platform image carries neither pyspark nor a JVM: on GKE, Spark runs on Dataproc or EMR.
            raise fail_at("spark", "target local runs Spark inside the Airflow process, which the GKE image cannot: use dataproc or emr")
        return self
