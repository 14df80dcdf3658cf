"""The `jobs:` pipeline kind: Spark jobs with dependencies, described in YAML, run where the environment says.

A file with a `jobs:` list (instead of `tables:`) is a Spark pipeline. Everything else at the top level
(name, schedule, owner, alerts, defaults) means what it means for tables. Each job names a PySpark
script by its path in the DAG repository, its arguments (Jinja-templated, so `{{ ds }}` and the
`jdbc_url('warehouse')` macro work), its resources and the jobs it waits for. Where jobs run is not in
the file: the environment's `[platform] spark_target` picks local spark-submit, Dataproc Serverless or
EMR Serverless (see `spark_build.py`).
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from pydantic import Field, PrivateAttr, create_model, field_validator

from platform_dags.factory.spec import TABLE_NAME, Pipeline, _check, _Strict

SPARK_CONF_KEY = re.compile(r"^spark\.[A-Za-z0-9_.-]+$")
MEMORY = r"^[1-9][0-9]{0,5}[mg]$"


class Resources(_Strict):
    """What one job asks for; a local master runs everything in the driver, so only driver_memory counts there."""

    driver_memory: str = Field(default="1g", pattern=MEMORY, description="Driver memory, like 512m or 2g.")
    executor_memory: str = Field(default="1g", pattern=MEMORY, description="Memory per executor, like 4g.")
    executor_cores: int = Field(default=4, description="Cores per executor: 4, 8 or 16 (Dataproc Serverless accepts only these).")
    executors: int = Field(default=2, ge=2, le=1000, description="Executors to start with (Dataproc Serverless needs at least 2).")

    @field_validator("executor_cores")
    @classmethod
    def _dataproc_core_counts(cls, v: int) -> int:
        if v not in (4, 8, 16):
            raise ValueError(f"must be 4, 8 or 16, got {v}")
        return v


class Job(_Strict):
    """One Spark job: a PySpark script run with arguments once the jobs it depends on succeeded."""

    name: str = Field(description="Unique name in the pipeline (lower case, digits, _); the task id.")
    script: str = Field(description="PySpark script, path relative to the DAG repository, like spark/features.py.")
    args: list[str] = Field(default_factory=list, description="Script arguments (Jinja: {{ ds }}, {{ jdbc_url('warehouse') }}).")
    conf: dict[str, str] = Field(default_factory=dict, description="Extra Spark properties, like spark.sql.shuffle.partitions: '4'.")
    resources: Resources = Field(default_factory=Resources, description="Driver and executor sizes.")
    depends_on: list[str] = Field(default_factory=list, description="Jobs that must succeed before this one starts.")

    _name = field_validator("name")(lambda v: _check(TABLE_NAME, v, "job name (lower case letters, digits and _, at most 48)"))

    @field_validator("script")
    @classmethod
    def _relative_python_file(cls, v: str) -> str:
        path = PurePosixPath(v)
        if path.is_absolute() or ".." in path.parts or path.suffix != ".py" or "\\" in v:
            raise ValueError(f"{v!r} must be a .py path inside the DAG repository, like spark/features.py")
        return v

    @field_validator("conf")
    @classmethod
    def _spark_keys(cls, v: dict[str, str]) -> dict[str, str]:
        for key in v:
            if not SPARK_CONF_KEY.match(key):
                raise ValueError(f"{key!r} is not a Spark property (spark.<name>)")
        return v


class _Located(_Strict):
    # Where the file was read from: scripts are found relative to the DAG repository that holds it.
    _source: str | None = PrivateAttr(default=None)


# The shared top level of a pipeline file (name, schedule, owner, alerts, defaults, ...) with `jobs`
# in place of `tables`: derived from Pipeline so both kinds keep one definition of those keys.
_shared = {name: (field.annotation, field) for name, field in Pipeline.model_fields.items() if name != "tables"}
SparkPipeline = create_model(
    "SparkPipeline",
    __base__=_Located,
    __doc__="A pipeline file of kind jobs: one Airflow DAG running Spark jobs in dependency order.",
    jobs=(list[Job], Field(min_length=1, description="The Spark jobs, each one task.")),
    **_shared,
)


def with_source(pipeline, path) -> object:
    """`pipeline` remembering the file it came from (the DAG repository is that file's folder's parent)."""
    pipeline._source = str(Path(path).resolve())
    return pipeline


def repository_of(pipeline) -> PurePosixPath | None:
    """The DAG repository holding the pipeline file (`<repo>/pipelines/<name>.yaml`), when known."""
    source = getattr(pipeline, "_source", None)
    return PurePosixPath(source).parent.parent if source else None


def script_problems(doc, path, data: dict) -> list:
    """Scripts that do not exist in the DAG repository: a problem at the job's `script` key."""
    repo = path.resolve().parent.parent
    problems = []
    for i, job in enumerate(data.get("jobs") or []):
        script = job.get("script") if isinstance(job, dict) else None
        if isinstance(script, str) and script.endswith(".py") and ".." not in script and not script.startswith("/"):
            if not (repo / script).is_file():
                problems.append(doc.problem(("jobs", i, "script"), f"jobs[{i}].script: {script!r} not found in the DAG repository ({repo.name}/)"))
    return problems
