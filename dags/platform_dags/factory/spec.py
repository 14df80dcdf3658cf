"""The pipeline YAML format: one pydantic model per section, the only schema of a pipeline file.

Every field has a type, a safe default where one makes sense and a description (what a user sees in
the docs and, through the field name, in an error). Models are strict: a quoted number is not an
integer and unknown keys are errors, so a typo never silently falls back to a default.
Checks that need the whole file (dependencies, cycles, duplicate names, the schedule) live in
`validate.py`; this module only checks each value on its own.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# A table or schema-qualified table: what may be spliced into SQL as an identifier (the guard against
# SQL injection through names). Quoting is not offered on purpose: names that need quotes are names
# that break someone's query later; lower case matches what PostgreSQL folds unquoted names to.
_IDENT = r"[a-z_][a-z0-9_]{0,62}"
TABLE_REF = re.compile(rf"^{_IDENT}(\.{_IDENT})?$")
# A pipeline's table name becomes a task group id and the base of its staging tables; 48 characters
# leave room for the "_raw"/"_out" suffix within the operators' 52-character staging base.
TABLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,47}$")
# Airflow's own rule for dag ids and pool names (letters, digits, dashes, dots, underscores).
AIRFLOW_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,249}$")
SLACK_CHANNEL = re.compile(r"^#[a-z0-9][a-z0-9_-]{0,79}$")
CONN_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,249}$")

TABLE_REF_HELP = "table name (lower case letters, digits and _; optionally schema.table)"
DEFAULT_START_DATE = dt.date(2024, 1, 1)


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


def _check(pattern: re.Pattern[str], value: str, what: str) -> str:
    if not pattern.match(value):
        raise ValueError(f"{value!r} is not a valid {what}")
    return value


class Source(_Strict):
    """Where a table's rows come from: a table, or a SELECT for anything more."""

    conn_id: str = Field(description="Airflow connection id of the source database.")
    table: str | None = Field(default=None, description="Source table, `table` or `schema.table`.")
    sql: str | None = Field(default=None, min_length=1, description="SELECT returning the rows to copy (instead of `table`).")

    _conn = field_validator("conn_id")(lambda v: _check(CONN_ID, v, "connection id"))
    _table = field_validator("table")(
        lambda v: v if v is None else _check(TABLE_REF, v, TABLE_REF_HELP)
    )

    @model_validator(mode="after")
    def _one_of_table_or_sql(self) -> Source:
        if (self.table is None) == (self.sql is None):
            raise ValueError("give exactly one of 'table' or 'sql'")
        return self


class Destination(_Strict):
    """Where a table's rows land."""

    conn_id: str = Field(description="Airflow connection id of the destination (warehouse) database.")
    table: str = Field(description="Destination table, `table` or `schema.table`.")
    mode: Literal["replace", "append"] = Field(
        default="replace", description="replace: swap the table's rows for this run's; append: add this run's rows."
    )

    _conn = field_validator("conn_id")(lambda v: _check(CONN_ID, v, "connection id"))
    _table = field_validator("table")(
        lambda v: _check(TABLE_REF, v, TABLE_REF_HELP)
    )


class Table(_Strict):
    """One table of the pipeline: extract, transform, publish."""

    name: str = Field(description="Unique name in the pipeline (lower case, digits, _); used in task ids.")
    source: Source = Field(description="Where the rows come from.")
    destination: Destination = Field(description="Where the rows land.")
    transform: str | None = Field(
        default=None, min_length=1, description="SQL SELECT over the staged rows; omit to copy rows as they are."
    )
    priority: int = Field(
        default=1, ge=0, le=2_147_483_647, description="Higher runs first when slots are scarce (absolute weight)."
    )
    depends_on: list[str] = Field(default_factory=list, description="Tables whose publish must finish before this extract.")

    _name = field_validator("name")(
        lambda v: _check(TABLE_NAME, v, "table name (lower case letters, digits and _, at most 48)")
    )


class Alerts(_Strict):
    """Where this pipeline's alerts go; omitted keys use the platform's defaults."""

    slack_channel: str | None = Field(default=None, description="Slack channel for progress, e.g. #etl.")
    pagerduty_service: str | None = Field(default=None, min_length=1, description="PagerDuty service paged after the last retry.")

    _channel = field_validator("slack_channel")(
        lambda v: v if v is None else _check(SLACK_CHANNEL, v, "Slack channel (like #etl: #, then lower case letters, digits, - and _)")
    )


class Defaults(_Strict):
    """Task settings shared by every table of the pipeline."""

    retries: int = Field(default=2, ge=0, le=20, description="Retries before a task fails (and pages).")
    retry_delay_minutes: float = Field(default=5, gt=0, le=24 * 60, description="Wait before the first retry.")
    retry_exponential_backoff: bool = Field(default=True, description="Double the wait after each retry.")
    max_retry_delay_minutes: float = Field(default=60, gt=0, le=24 * 60, description="Longest wait between retries.")
    pool: str = Field(default="default_pool", description="Airflow pool the tasks take their slots from.")
    execution_timeout_minutes: float = Field(default=60, gt=0, le=7 * 24 * 60, description="A task running longer fails.")
    batch_size: int = Field(default=10_000, ge=1, le=10_000_000, description="Rows per batch when copying.")

    _pool = field_validator("pool")(lambda v: _check(AIRFLOW_KEY, v, "pool name"))

    # Strict mode refuses ints for floats; minutes are naturally written as whole numbers.
    @field_validator("retry_delay_minutes", "max_retry_delay_minutes", "execution_timeout_minutes", mode="before")
    @classmethod
    def _int_is_a_number(cls, v):
        return float(v) if isinstance(v, int) and not isinstance(v, bool) else v


class Pipeline(_Strict):
    """A pipeline file: one Airflow DAG copying a list of tables."""

    name: str | None = Field(default=None, description="DAG id; must equal the file name without .yaml (the default).")
    description: str | None = Field(default=None, description="One line shown in the Airflow UI.")
    schedule: str | None = Field(description="Cron expression or preset (@daily, @hourly, ...); null = manual runs only.")
    start_date: dt.date = Field(default=DEFAULT_START_DATE, description="First logical date; earlier runs are never created.")
    owner: str = Field(min_length=1, description="Team or person answering for the pipeline.")
    tags: list[str] = Field(default_factory=list, description="Airflow UI tags.")
    alerts: Alerts = Field(default_factory=Alerts, description="Alert routing.")
    defaults: Defaults = Field(default_factory=Defaults, description="Task settings for every table.")
    tables: list[Table] = Field(min_length=1, description="The tables, each extracted, transformed and published.")
