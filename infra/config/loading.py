"""Reading environments/*.yaml: file to validated `Environment`, every problem one line naming file and key."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from infra.config.environment import Environment
from infra.errors import ConfigError
from platform_schema import Document, DocumentError, explain, shown_path

# The repository: infra/config/loading.py is three levels below it.
ROOT = Path(__file__).resolve().parents[2]
# Overridable so a team can keep its environment files in a separate config repository (and tests use tmp dirs).
ENVIRONMENTS_DIR = Path(os.environ.get("PLATFORM_ENVIRONMENTS_DIR", ROOT / "environments"))

# Short enough that every derived GCP name (service accounts: 30 chars) still fits.
ENV_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,13}[a-z0-9]$")



def parse_environment(name: str, data: Any, source: str) -> Environment:
    """Validate already-loaded YAML `data` for environment `name`; `source` names the file in errors."""
    if not ENV_NAME_RE.match(name):
        raise ConfigError(
            f"{source}: environment name must be 2-15 chars of lowercase letters, digits and dashes, got {name!r}"
        )
    if data is None:
        raise ConfigError(f"{source}: the file is empty; it needs at least `runtime: gke` or `runtime: local`")
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: must be a mapping of keys to values, got {type(data).__name__}")
    if "name" in data:
        raise ConfigError(f"{source}: unknown key 'name' (an environment's name is its file's name, {name!r})")
    try:
        return Environment.model_validate({**data, "name": name})
    except ValidationError as exc:
        lines = [f"{source}: {explain(error, Environment, hidden=('name',)).text}" for error in exc.errors()]
        raise ConfigError("\n".join(dict.fromkeys(lines))) from None


def environment_path(name_or_path: str | Path, root: Path | None = None) -> Path:
    """environments/<name>.yaml for a name, or the path itself when given one."""
    text = str(name_or_path)
    if text.endswith((".yaml", ".yml")) or "/" in text:
        return Path(text)
    return (root or ENVIRONMENTS_DIR) / f"{text}.yaml"


def load_environment(name_or_path: str | Path, root: Path | None = None) -> Environment:
    """Read and validate one environment; raises ConfigError with one line per problem."""
    path = environment_path(name_or_path, root)
    source = shown_path(path)
    if not path.is_file():
        known = ", ".join(list_environments(root or path.parent)) or "none"
        raise ConfigError(f"{source}: no such environment file (known environments: {known})")
    try:
        doc = Document(path, shown_as=source)
        data = doc.load()
    except DocumentError as exc:
        raise ConfigError(str(exc.problem)) from None
    if doc.duplicates:
        raise ConfigError("\n".join(str(problem) for problem in doc.duplicates))
    return parse_environment(path.stem, data, source)


def list_environments(root: Path | None = None) -> list[str]:
    """Names of the environment files, sorted."""
    folder = root or ENVIRONMENTS_DIR
    return sorted(p.stem for p in folder.glob("*.yaml"))


def load_all(runtime: str | None = None, root: Path | None = None) -> list[Environment]:
    """Every environment (optionally only one runtime); all files are checked before any is returned."""
    envs, errors = [], []
    for name in list_environments(root):
        try:
            envs.append(load_environment(name, root))
        except ConfigError as exc:
            errors.append(str(exc))
    if errors:
        raise ConfigError("\n".join(errors))
    return [env for env in envs if runtime is None or env.runtime == runtime]
