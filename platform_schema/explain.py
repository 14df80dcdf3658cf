"""Turn one pydantic validation error into a sentence: what is wrong, at which key, with did-you-mean.

Both file formats (environments and pipelines) report through `explain`, so a mistake reads the same
whichever file it is in: `key.path: must be 'a' or 'b', got 'c'`, `unknown key 'x' (did you mean 'y'?)`.
Validators that need their own words raise `fail(message)` (shown as is, at the field) or
`fail_at(key, message)` (from a model validator, shown at one of the model's keys).
"""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any, NamedTuple

from pydantic import BaseModel
from pydantic_core import PydanticCustomError

_TYPE_WORDS = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "a string",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "date_type": "a date like 2024-01-01",
    "date_from_datetime_parsing": "a date like 2024-01-01",
    "date_parsing": "a date like 2024-01-01",
    "time_type": "a time like 02:00",
    "time_parsing": "a time like 02:00",
}


class Explained(NamedTuple):
    """Where a problem is (`loc`, to find its line; `at_key`: at the key rather than its value) and what it is."""

    loc: tuple
    text: str
    at_key: bool = False


def fail(message: str) -> PydanticCustomError:
    """A validation error whose message is shown to the user as is."""
    return PydanticCustomError("config", "{message}", {"message": message})


def fail_at(key: str, message: str) -> PydanticCustomError:
    """From a model validator: an error shown at the model's `key`."""
    return PydanticCustomError("config_at", "{message}", {"message": message, "key": key})


def key_path(loc: tuple) -> str:
    """`("tables", 1, "source")` → `tables[1].source`."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def got(value: Any) -> str:
    """A value as shown after `got`: short, and in words for containers."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing (null)"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def explain(error: dict, model: type[BaseModel], *, hidden: tuple[str, ...] = ()) -> Explained:
    """The sentence for one entry of `ValidationError.errors()` raised by `model`.

    `hidden` names top-level keys the file may not give (set by the loader) and never suggested.
    """
    loc, kind, ctx, value = tuple(error["loc"]), error["type"], error.get("ctx") or {}, error.get("input")
    if kind == "config_at":
        loc = loc + (ctx["key"],)
    if kind in ("extra_forbidden", "missing"):
        where, name = key_path(loc[:-1]), loc[-1]
    else:
        where = key_path(loc)
    if kind in ("config", "config_at"):
        message = ctx["message"]
    elif kind == "extra_forbidden":
        allowed = [k for k in keys_at(model, loc[:-1]) if not (len(loc) == 1 and k in hidden)]
        hint = difflib.get_close_matches(str(name), allowed, n=1)
        suggestion = f" (did you mean {hint[0]!r}?)" if hint else f" (known keys: {', '.join(allowed)})" if allowed else ""
        return Explained(loc, _join(where, f"unknown key {name!r}{suggestion}"), at_key=True)
    elif kind == "missing":
        return Explained(loc[:-1], _join(where, f"missing required key {name!r}"))
    elif kind in _TYPE_WORDS:
        message = f"expected {_TYPE_WORDS[kind]}, got {got(value)}"
    elif kind in ("literal_error", "enum"):
        message = f"must be {ctx.get('expected')}, got {got(value)}"
    elif kind in ("too_short", "string_too_short") and not ctx.get("min_length", 1) > 1:
        message = "must not be empty"
    elif kind == "string_pattern_mismatch":
        message = f"must match {ctx.get('pattern')}, got {got(value)}"
    elif kind in ("value_error", "assertion_error"):  # the validator's own words, which name the value
        message = error["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    else:
        message = error["msg"].replace("Input should be", "must be")
        message = f"{message[0].lower()}{message[1:]}, got {got(value)}"
    return Explained(loc, _join(where, message))


def _join(where: str, message: str) -> str:
    return f"{where}: {message}" if where else message


def keys_at(model: type[BaseModel], loc: tuple) -> list[str]:
    """The keys `model` allows at `loc` (list indexes skipped); [] below a free-form mapping."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        field = getattr(current, "model_fields", {}).get(part)
        if field is None:
            return []
        current = _model_in(field.annotation)
        if current is None:
            return []
    return list(getattr(current, "model_fields", {}))


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model inside an annotation like `Model`, `Model | None` or `list[Model]`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _model_in(typing.get_args(annotation)[0])
    if origin is dict:
        return None
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin in (typing.Union, types.UnionType) and len(args) != 1:
        return None
    return _model_in(args[0]) if args else None
