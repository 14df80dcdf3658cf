"""What a plan changes, in a form a reviewer reads in ten seconds: counts, a table, and a loud warning.

Two sources feed one model: terraform's JSON plan format (`terraform show -json plan`, online) and the
attribute diff of two synthesized stacks (`infra.offline_diff`, offline). Three renderers: `text` for a
terminal, `markdown` for a PR comment (full list collapsed in <details>), `json` for machines.
Secret values never reach a report: terraform's sensitivity marks and secret-looking attribute names
are both masked.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

ACTIONS = ("create", "update", "replace", "destroy")
# Destroying or replacing these loses data or takes the platform down: the section nobody may miss.
STATEFUL_TYPES = frozenset(
    {
        "google_sql_database_instance",
        "google_sql_database",
        "google_container_cluster",
        "google_container_node_pool",
        "google_storage_bucket",
        "google_secret_manager_secret",
        "google_secret_manager_secret_version",
        "google_logging_project_bucket_config",
        "google_kms_crypto_key",
        "google_compute_network",
    }
)
SENSITIVE_NAME = re.compile(r"password|passwd|secret_data|private_key|token|client_secret|api_key|credential|fernet|jwt", re.I)
MASK = "(sensitive)"
UNKNOWN = "(known after apply)"
ABSENT = "(none)"
ICONS = {"create": "➕", "update": "✏️", "replace": "♻️", "destroy": "🗑️"}
MAX_VALUE = 80


@dataclass(frozen=True)
class AttributeChange:
    path: str
    old: str
    new: str
    forces_replacement: bool = False


@dataclass
class ResourceChange:
    address: str
    type: str
    action: str
    attributes: list[AttributeChange] = field(default_factory=list)

    @property
    def stateful(self) -> bool:
        return self.type in STATEFUL_TYPES

    @property
    def dangerous(self) -> bool:
        return self.stateful and self.action in ("replace", "destroy")


@dataclass
class PlanReport:
    env: str
    source: str
    changes: list[ResourceChange]
    notes: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {action: sum(1 for c in self.changes if c.action == action) for action in ACTIONS}

    @property
    def has_changes(self) -> bool:
        return bool(self.changes)

    def dangerous(self) -> list[ResourceChange]:
        return [c for c in self.changes if c.dangerous]

    def summary(self) -> str:
        counts = self.counts()
        if not self.has_changes:
            return "no changes"
        return ", ".join(f"{counts[a]} to {a}" for a in ACTIONS)

    def to_dict(self) -> dict:
        return {
            "environment": self.env,
            "source": self.source,
            "counts": self.counts(),
            "stateful_destroy_or_replace": [c.address for c in self.dangerous()],
            "changes": [asdict(c) for c in self.changes],
            "notes": self.notes,
        }


# --- Values ----------------------------------------------------------------------------------------


def show_value(value: Any) -> str:
    if value is _MISSING:
        return ABSENT
    text = json.dumps(value, sort_keys=True, separators=(", ", ": "), default=str)
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 1] + "…"


_MISSING = object()


def _at(tree: Any, key: Any) -> Any:
    """Descend a sensitivity / unknown mask tree (same shape as the values, or a bare bool)."""
    if isinstance(tree, bool) or tree is None:
        return tree
    if isinstance(tree, dict):
        return tree.get(key)
    if isinstance(tree, list) and isinstance(key, int) and key < len(tree):
        return tree[key]
    return None


def _join(path: str, key: Any) -> str:
    return f"{path}[{key}]" if isinstance(key, int) else (f"{path}.{key}" if path else str(key))


def diff_values(
    before: Any,
    after: Any,
    *,
    before_sensitive: Any = None,
    after_sensitive: Any = None,
    after_unknown: Any = None,
    path: str = "",
    last_key: str = "",
) -> list[tuple[str, str, str]]:
    """Leaf by leaf differences as (path, old, new), with secrets masked and unknowns named."""
    masked = before_sensitive is True or after_sensitive is True or bool(last_key and SENSITIVE_NAME.search(last_key))
    if after_unknown is True:
        old = MASK if masked and before is not _MISSING else show_value(before)
        return [(path, old, UNKNOWN)]
    if isinstance(before, dict) and isinstance(after, dict):
        out = []
        for key in sorted(set(before) | set(after) | set(after_unknown if isinstance(after_unknown, dict) else ())):
            out += diff_values(
                before.get(key, _MISSING),
                after.get(key, _MISSING),
                before_sensitive=_at(before_sensitive, key),
                after_sensitive=_at(after_sensitive, key),
                after_unknown=_at(after_unknown, key),
                path=_join(path, key),
                last_key=str(key),
            )
        return out
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        out = []
        for index, (old_item, new_item) in enumerate(zip(before, after)):
            out += diff_values(
                old_item,
                new_item,
                before_sensitive=_at(before_sensitive, index),
                after_sensitive=_at(after_sensitive, index),
                after_unknown=_at(after_unknown, index),
                path=_join(path, index),
                last_key=last_key,
            )
        return out
    if before == after:
        return []
    if masked:
        return [(path, MASK if before not in (_MISSING, None) else show_value(before), MASK if after not in (_MISSING, None) else show_value(after))]
    return [(path, show_value(before), show_value(after))]


# --- From terraform's JSON plan ---------------------------------------------------------------------


def _action(actions: list[str]) -> str | None:
    if set(actions) == {"delete", "create"}:
        return "replace"
    return {("create",): "create", ("update",): "update", ("delete",): "destroy"}.get(tuple(actions))


def _forced(path: str, replace_paths: list[list]) -> bool:
    for steps in replace_paths:
        prefix = ""
        for step in steps:
            prefix = _join(prefix, step)
        if path == prefix or path.startswith(prefix + ".") or path.startswith(prefix + "["):
            return True
    return False


def from_terraform_plan(plan: dict, env: str, source: str = "terraform plan") -> PlanReport:
    """Build the report from terraform's JSON plan format (format_version 1.x)."""
    changes = []
    for rc in plan.get("resource_changes", []):
        if rc.get("mode") == "data":
            continue
        change = rc.get("change", {})
        action = _action(change.get("actions", []))
        if action is None:
            continue
        attributes = []
        if action in ("update", "replace"):
            replace_paths = change.get("replace_paths") or []
            for path, old, new in diff_values(
                change.get("before") or {},
                change.get("after") or {},
                before_sensitive=change.get("before_sensitive"),
                after_sensitive=change.get("after_sensitive"),
                after_unknown=change.get("after_unknown"),
            ):
                attributes.append(AttributeChange(path, old, new, _forced(path, replace_paths)))
        changes.append(ResourceChange(rc["address"], rc["type"], action, attributes))
    return PlanReport(env, source, _ordered(changes))


def _ordered(changes: list[ResourceChange]) -> list[ResourceChange]:
    rank = {"destroy": 0, "replace": 1, "update": 2, "create": 3}
    return sorted(changes, key=lambda c: (not c.dangerous, rank[c.action], c.address))


# --- Renderers ---------------------------------------------------------------------------------------


def _forced_by(change: ResourceChange) -> str:
    forced = [a.path for a in change.attributes if a.forces_replacement]
    return f" (forced by: {', '.join(forced)})" if forced else ""


def render_text(report: PlanReport) -> str:
    lines = [f"Plan for {report.env} ({report.source}): {report.summary()}"]
    for note in report.notes:
        lines.append(f"note: {note}")
    danger = report.dangerous()
    if danger:
        lines += ["", "!!! STATEFUL RESOURCES WILL BE DESTROYED OR REPLACED: DATA MAY BE LOST !!!"]
        lines += [f"  {c.action.upper():8} {c.address}{_forced_by(c)}" for c in danger]
    if report.changes:
        width = max(len(c.address) for c in report.changes)
        lines += ["", f"  {'ACTION':8} {'RESOURCE':{width}}  CHANGED ATTRIBUTES"]
        for change in report.changes:
            lines.append(f"  {change.action:8} {change.address:{width}}  {len(change.attributes) or ''}".rstrip())
            for attr in change.attributes:
                mark = "  # forces replacement" if attr.forces_replacement else ""
                lines.append(f"  {'':8} {'':{width}}    {attr.path}: {attr.old} → {attr.new}{mark}")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(report: PlanReport) -> str:
    counts = report.counts()
    out = [f"### Plan for `{report.env}`: {report.summary()}", ""]
    if report.has_changes:
        out += ["| ➕ create | ✏️ update | ♻️ replace | 🗑️ destroy |", "|---:|---:|---:|---:|"]
        out += ["| " + " | ".join(str(counts[a]) for a in ACTIONS) + " |", ""]
    danger = report.dangerous()
    if danger:
        out += ["> [!CAUTION]", "> **Stateful resources will be destroyed or replaced: data may be lost.**", ">"]
        out += [f"> - **{c.action}** `{c.address}`{_forced_by(c)}" for c in danger]
        out.append("")
    for note in report.notes:
        out += [f"> [!NOTE]\n> {note}", ""]
    if report.changes:
        out += ["| Action | Resource | Changed attributes |", "|---|---|---:|"]
        for change in report.changes:
            count = str(len(change.attributes)) if change.action in ("update", "replace") else ""
            out.append(f"| {ICONS[change.action]} {change.action} | `{change.address}` | {count} |")
        out.append("")
        total = sum(len(c.attributes) for c in report.changes)
        out += [f"<details><summary>Every change ({len(report.changes)} resources, {total} attributes)</summary>", ""]
        for change in report.changes:
            out.append(f"#### {ICONS[change.action]} `{change.address}` ({change.action})")
            if change.attributes:
                out += ["", "| Attribute | Before | After |", "|---|---|---|"]
                for attr in change.attributes:
                    mark = " ⚠️ forces replacement" if attr.forces_replacement else ""
                    out.append(f"| `{_cell(attr.path)}`{mark} | `{_cell(attr.old)}` | `{_cell(attr.new)}` |")
            out.append("")
        out += ["</details>", ""]
    out.append(f"<sub>Source: {report.source}.</sub>")
    return "\n".join(out) + "\n"


def render_json(report: PlanReport) -> str:
    return json.dumps(report.to_dict(), indent=2, sort_keys=True) + "\n"


RENDERERS = {"text": render_text, "markdown": render_markdown, "json": render_json}


def render(report: PlanReport, fmt: str) -> str:
    return RENDERERS[fmt](report)
