"""The one helper stack tests read synthesized JSON through: resources by construct path, references followed.

Tests look resources up by construct path (`database/instance`), never by generated logical id, and
follow `${type.id.attr}` references to the construct path of the resource they point at.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from infra.config import Environment, load_environment

ROOT = Path(__file__).resolve().parents[2]
ENVIRONMENTS = ROOT / "environments"
GCP_ENVS = ("dev", "qa", "prod")
REF_RE = re.compile(r"^\$\{([a-z0-9_]+)\.([A-Za-z0-9_-]+)\.([a-z0-9_.\[\]]+)\}$")  # attributes may index nested blocks ([0])


@dataclass(frozen=True)
class Ref:
    """A `${type.id.attr}` reference, resolved to the construct path of what it points at."""

    type: str
    path: str
    attribute: str


class SynthStack:
    """One synthesized stack, queried by resource type and construct path."""

    def __init__(self, env: Environment, json_path: Path) -> None:
        self.env = env
        self.json_path = json_path
        self.raw = json.loads(json_path.read_text())
        self.resources_by_type: dict[str, dict[str, dict]] = self.raw.get("resource", {})
        self._paths = {
            (kind, logical_id): body["//"]["metadata"]["path"].split("/", 1)[1]
            for kind, items in self.resources_by_type.items()
            for logical_id, body in items.items()
        }

    def all(self, kind: str) -> dict[str, dict]:
        """Every resource of `kind`, keyed by construct path inside the stack (e.g. `logs/archive-bucket`)."""
        return {self._paths[(kind, lid)]: body for lid, body in self.resources_by_type.get(kind, {}).items()}

    def one(self, kind: str, path: str | None = None) -> dict:
        found = self.all(kind)
        if path is None:
            assert len(found) == 1, f"{self.env.name}: expected one {kind}, found {sorted(found)}"
            return next(iter(found.values()))
        assert path in found, f"{self.env.name}: no {kind} at {path}; have {sorted(found)}"
        return found[path]

    def counts(self) -> dict[str, int]:
        return {kind: len(items) for kind, items in sorted(self.resources_by_type.items())}

    def ref(self, value: str) -> Ref:
        """The resource a `${...}` reference points at, as its construct path."""
        match = REF_RE.match(value)
        assert match, f"not a reference to a resource: {value!r}"
        kind, logical_id, attribute = match.groups()
        return Ref(kind, self._paths[(kind, logical_id)], attribute)

    def output(self, name: str):
        assert name in self.raw["output"], f"{self.env.name}: no output {name!r}"
        return self.raw["output"][name]["value"]


def copy_environment(source: str, new_name: str, folder: Path, edit=None) -> Environment:
    """environments/<source>.yaml saved as <folder>/<new_name>.yaml (optionally edited), loaded."""
    text = (ENVIRONMENTS / f"{source}.yaml").read_text()
    if edit:
        text = edit(text)
    path = folder / f"{new_name}.yaml"
    path.write_text(text)
    return load_environment(path)
