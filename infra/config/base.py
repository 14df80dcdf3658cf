"""What every model of the environment shares: strictness and the patterns of names and labels."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

RESOURCE_NAME = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
LABEL_KEY = r"^[a-z][a-z0-9_-]{0,62}$"
LABEL_VALUE = r"^[a-z0-9_-]{0,63}$"


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


Labels = dict[
    Annotated[str, Field(pattern=LABEL_KEY)],
    Annotated[str, Field(pattern=LABEL_VALUE)],
]
