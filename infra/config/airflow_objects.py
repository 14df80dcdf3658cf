"""Objects `invoke bootstrap` creates inside Airflow: pools, variables and connections (secrets by reference)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from infra.config.base import StrictModel
from platform_schema import fail


# --- Objects inside Airflow: pools, variables, connections (`invoke bootstrap`) ------------------

SECRET_ID = r"^[A-Za-z0-9_-]{1,255}$"
# Keys Airflow masks in API answers: a value under them is a secret, so it belongs in Secret Manager.
SECRET_LOOKING = ("password", "passwd", "passphrase", "secret", "token", "api_key", "apikey", "private_key",
                  "authorization", "keyfile_dict", "credential")


class PoolSpec(StrictModel):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,256}$", description="Pool name tasks refer to (`pool=`).")
    slots: int = Field(ge=-1, description="How many task instances may run in the pool at once; -1 = unlimited.")
    description: str = Field(default="", description="Shown in the UI's pool list.")
    include_deferred: bool = Field(default=False, description="Deferred tasks count against the pool's slots.")


class VariableSpec(StrictModel):
    key: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,250}$", description="Variable key (`Variable.get(key)`).")
    value: str | None = Field(default=None, description="Plain value; never a secret (use `secret`).")
    secret: str | None = Field(
        default=None, pattern=SECRET_ID,
        description="Secret Manager secret id (in the environment's project) whose latest version is the value.",
    )
    description: str = Field(default="", description="Shown in the UI's variable list.")

    @model_validator(mode="after")
    def _one_source(self) -> VariableSpec:
        if (self.value is None) == (self.secret is None):
            raise fail(f"variable {self.key!r}: give exactly one of `value` or `secret`")
        if self.value is not None and any(word in self.key.lower() for word in SECRET_LOOKING):
            # Airflow masks such values in its answers, too: a secret by name belongs in Secret Manager.
            raise fail(f"variable {self.key!r} looks like a secret: keep its value in Secret Manager (`secret`)")
        return self


class ConnectionSpec(StrictModel):
    conn_id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,250}$", description="Connection id hooks refer to.")
    conn_type: str = Field(min_length=1, description="Connection type, e.g. postgres, google_cloud_platform.")
    host: str | None = Field(default=None, description="Host name or URL.")
    port: int | None = Field(default=None, ge=1, le=65535, description="Port.")
    schema_: str | None = Field(default=None, alias="schema", description="Schema or database name.")
    login: str | None = Field(default=None, description="User name.")
    password_secret: str | None = Field(
        default=None, pattern=SECRET_ID,
        description="Secret Manager secret id (in the environment's project) whose latest version is the password.",
    )
    extra: dict[str, Any] = Field(default_factory=dict, description="Extra fields; never a secret.")
    description: str = Field(default="", description="Shown in the UI's connection list.")

    @field_validator("extra")
    @classmethod
    def _no_secret_in_extra(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in value:
            if any(word in key.lower() for word in SECRET_LOOKING):
                raise fail(f"extra.{key} looks like a secret: keep secrets in Secret Manager (password_secret)")
        return value


def _unique(items: list, attribute: str, what: str) -> list:
    seen = [getattr(item, attribute) for item in items]
    duplicates = sorted({name for name in seen if seen.count(name) > 1})
    if duplicates:
        raise fail(f"{what} declared twice: {', '.join(duplicates)}")
    return items


class Bootstrap(StrictModel):
    pools: list[PoolSpec] = Field(
        default_factory=list, description="Pools to create (the canary's own pool is always created)."
    )
    variables: list[VariableSpec] = Field(default_factory=list, description="Airflow variables to create.")
    connections: list[ConnectionSpec] = Field(default_factory=list, description="Airflow connections to create.")
    ready_timeout_minutes: int = Field(
        default=15, ge=1, le=120, description="How long bootstrap waits for the API server and the first canary run."
    )

    @field_validator("pools")
    @classmethod
    def _unique_pools(cls, value: list[PoolSpec]) -> list[PoolSpec]:
        return _unique(value, "name", "pool")

    @field_validator("variables")
    @classmethod
    def _unique_variables(cls, value: list[VariableSpec]) -> list[VariableSpec]:
        return _unique(value, "key", "variable")

    @field_validator("connections")
    @classmethod
    def _unique_connections(cls, value: list[ConnectionSpec]) -> list[ConnectionSpec]:
        return _unique(value, "conn_id", "connection")
