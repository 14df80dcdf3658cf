"""Validate a pipeline file before any DAG is built: every problem, each at its line and column.

Two passes over one load: the pydantic model checks each value (types, unknown keys, modes, names),
then whole-file checks run on the raw data (so both kinds are reported together): the file name as
DAG id, the schedule, duplicate tables, unknown dependencies and dependency cycles.
Everything here is linear in the number of tables; nothing is cached between parses.
"""

from __future__ import annotations

import difflib
import gc
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from platform_dags.factory.source import Document, PipelineError, Problem
from platform_dags.factory import spark
from platform_dags.factory.spec import AIRFLOW_KEY, Pipeline

# The pipeline kinds: a file has exactly one of these top-level keys, which picks its model.
KINDS: dict[str, type[BaseModel]] = {"tables": Pipeline, "jobs": spark.SparkPipeline}

# Airflow's presets besides cron aliases; cron aliases come from Airflow itself (below).
_SPECIAL_PRESETS = ("@once", "@continuous")

_TYPE_WORDS = {
    "int_type": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "string_type": "a string",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "date_type": "a date like 2024-01-01",
}


def load_pipeline(path: Path, *, text: str | None = None, shown_as: str | None = None) -> Pipeline:
    """The validated pipeline in `path`, its `name` set; raises PipelineError listing every problem."""
    # Loading allocates ~20 objects per YAML line that all stay alive until the DAG is built; in a
    # process holding Airflow's hundreds of thousands of objects, the cyclic GC passes that these
    # allocations trigger cost more than the parse itself (measured: 0.18 s vs 0.06 s for 1,000
    # tables) and free nothing. Pause it for the load and validation only.
    paused = gc.isenabled()
    gc.disable()
    try:
        return _load(path, text, shown_as)
    finally:
        if paused:
            gc.enable()


def _load(path: Path, text: str | None, shown_as: str | None) -> Pipeline:
    doc = Document(path, path.read_text(encoding="utf-8") if text is None else text, shown_as)
    data = doc.load()
    if not isinstance(data, dict):
        raise PipelineError([doc.problem((), "a pipeline file is a mapping with keys name, schedule, owner, tables, ...")])
    problems = list(doc.duplicates)
    kinds = [key for key in KINDS if key in data]
    if len(kinds) != 1:
        found = f"it has {' and '.join(kinds)}" if kinds else "it has none"
        raise PipelineError([*problems, doc.problem((), f"a pipeline file has exactly one of the keys {', '.join(KINDS)}; {found}")])
    model = KINDS[kinds[0]]
    pipeline = None
    try:
        pipeline = model.model_validate(data)
    except ValidationError as exc:
        problems.extend(_from_pydantic(doc, error, model) for error in exc.errors())
    problems.extend(_whole_file_checks(doc, path.stem, data))
    if kinds[0] == "jobs":
        problems.extend(spark.script_problems(doc, path, data))
    if problems:
        raise PipelineError(sorted(set(problems)))
    assert pipeline is not None
    pipeline = pipeline if pipeline.name else pipeline.model_copy(update={"name": path.stem})
    return spark.with_source(pipeline, path) if kinds[0] == "jobs" else pipeline


def _where(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _got(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing (null)"
    return repr(value)


def _from_pydantic(doc: Document, error: dict, model: type[BaseModel] = Pipeline) -> Problem:
    loc, kind, value = tuple(error["loc"]), error["type"], error.get("input")
    where = _where(loc[:-1]) if kind in ("extra_forbidden", "missing") else _where(loc)
    prefix = f"{where}: " if where else ""
    if kind == "extra_forbidden":
        allowed = _keys_at(loc[:-1], model)
        hint = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        suggestion = f" (did you mean {hint[0]!r}?)" if hint else f" (known keys: {', '.join(allowed)})"
        return doc.problem(loc, f"{prefix}unknown key {loc[-1]!r}{suggestion}", at_key=True)
    if kind == "missing":
        return doc.problem(loc[:-1], f"{prefix}missing required key {loc[-1]!r}")
    if kind in _TYPE_WORDS:
        return doc.problem(loc, f"{prefix}expected {_TYPE_WORDS[kind]}, got {_got(value)}")
    if kind == "literal_error":
        return doc.problem(loc, f"{prefix}must be {error['ctx']['expected']}, got {_got(value)}")
    if kind in ("too_short", "string_too_short"):
        return doc.problem(loc, f"{prefix}must not be empty")
    if kind == "string_pattern_mismatch":
        return doc.problem(loc, f"{prefix}{_got(value)} does not match {error['ctx']['pattern']}")
    message = error["msg"].removeprefix("Value error, ").replace("Input should be", "must be")
    return doc.problem(loc, f"{prefix}{message}")


def _keys_at(loc: tuple, model: Any = Pipeline) -> list[str]:
    """The keys the model allows at `loc`, for did-you-mean hints."""
    for part in loc:
        if isinstance(part, int):
            continue
        model = _unwrap(model.model_fields[part].annotation)
    return list(model.model_fields)


def _unwrap(annotation: Any) -> Any:
    while not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if not args or isinstance(annotation, types.UnionType) and len(args) > 1:
            return annotation
        annotation = args[0]
    return annotation


def _whole_file_checks(doc: Document, stem: str, data: dict) -> list[Problem]:
    problems: list[Problem] = []
    name = data.get("name")
    if not AIRFLOW_KEY.match(stem):
        problems.append(doc.problem((), f"file name {stem!r} is not a valid DAG id (letters, digits, _ . -): rename the file"))
    elif isinstance(name, str) and name != stem:
        problems.append(
            doc.problem(("name",), f"name: {name!r} must equal the file name {stem!r} (the DAG id is the file name; rename the file or drop 'name')")
        )
    schedule = data.get("schedule")
    if isinstance(schedule, str):
        message = schedule_problem(schedule)
        if message:
            problems.append(doc.problem(("schedule",), f"schedule: {message}"))
    for key, noun in (("tables", "table"), ("jobs", "job")):
        if isinstance(data.get(key), list):
            problems.extend(_table_checks(doc, data[key], key, noun))
    return problems


def schedule_problem(schedule: str) -> str | None:
    """Why Airflow would refuse `schedule`, or None. Uses Airflow's own presets and cron parser."""
    from airflow.sdk.definitions.timetables._cron import CRON_PRESETS, CronMixin

    if schedule in _SPECIAL_PRESETS or schedule in CRON_PRESETS:
        return None
    if schedule.startswith("@"):
        known = [*CRON_PRESETS, *_SPECIAL_PRESETS]
        hint = difflib.get_close_matches(schedule, known, n=1)
        return f"unknown preset {schedule!r}" + (f" (did you mean {hint[0]!r}?)" if hint else f" (known: {', '.join(known)})")
    try:
        CronMixin(schedule, "UTC").validate()
    except Exception as exc:  # AirflowTimetableInvalid; its text is croniter's reason
        return f"invalid cron expression {schedule!r}: {exc}"
    return None


def _table_checks(doc: Document, tables: list, key: str = "tables", noun: str = "table") -> list[Problem]:
    problems: list[Problem] = []
    first_index: dict[str, int] = {}
    for i, table in enumerate(tables):
        name = table.get("name") if isinstance(table, dict) else None
        if not isinstance(name, str):
            continue
        if name in first_index:
            first = doc.problem((key, first_index[name], "name"), "")
            problems.append(doc.problem((key, i, "name"), f"{key}[{i}].name: duplicate {noun} name {name!r} (first defined on line {first.line})"))
        else:
            first_index[name] = i

    edges: dict[str, list[tuple[str, tuple]]] = {name: [] for name in first_index}  # table -> its upstreams
    for i, table in enumerate(tables):
        if not isinstance(table, dict) or not isinstance(table.get("name"), str) or first_index.get(table["name"]) != i:
            continue
        deps = table.get("depends_on")
        for j, dep in enumerate(deps if isinstance(deps, list) else []):
            loc = (key, i, "depends_on", j)
            if not isinstance(dep, str):
                continue  # the model reports the type
            if dep == table["name"]:
                problems.append(doc.problem(loc, f"{key}[{i}].depends_on: {noun} {dep!r} depends on itself"))
            elif dep not in first_index:
                hint = difflib.get_close_matches(dep, list(first_index), n=1)
                problems.append(
                    doc.problem(loc, f"{key}[{i}].depends_on: unknown {noun} {dep!r}" + (f" (did you mean {hint[0]!r}?)" if hint else ""))
                )
            else:
                edges[table["name"]].append((dep, loc))
    problems.extend(doc.problem(loc, f"cycle: {' -> '.join(cycle)}") for cycle, loc in find_cycles(edges))
    return problems


def find_cycles(upstreams: dict[str, list[tuple[str, Any]]]) -> list[tuple[list[str], Any]]:
    """Dependency cycles, each once, in run order (`a -> b`: b depends on a), with the entry closing it.

    Iterative depth-first search (a 1,000-table chain must not hit Python's recursion limit); a cycle
    is named starting from the table that comes first in the file, so messages are stable.
    """
    order = {name: n for n, name in enumerate(upstreams)}
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    found: dict[frozenset, tuple[list[str], Any]] = {}
    for start in upstreams:
        if start in state:
            continue
        path: list[str] = [start]
        iters = [iter(upstreams[start])]
        state[start] = 1
        while iters:
            step = next(iters[-1], None)
            if step is None:
                state[path.pop()] = 2
                iters.pop()
                continue
            dep, _ = step
            if state.get(dep) == 1:  # back edge: path[k:] depends around to dep
                loop = path[path.index(dep):]  # each depends on the next, last depends on dep
                run_order = list(reversed(loop))  # dep ... runs before the one that depends on it
                k = min(range(len(run_order)), key=lambda n: order[run_order[n]])
                run_order = run_order[k:] + run_order[:k]
                key = frozenset(run_order)
                if key not in found:
                    # point at the depends_on entry of the second table naming the first
                    second, first = run_order[1 % len(run_order)], run_order[0]
                    loc = next(loc for d, loc in upstreams[second] if d == first)
                    found[key] = (run_order + [run_order[0]], loc)
            elif dep not in state:
                state[dep] = 1
                path.append(dep)
                iters.append(iter(upstreams[dep]))
    return list(found.values())
