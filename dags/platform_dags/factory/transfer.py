"""The `transfers:` pipeline kind: incremental S3 → GCS copies on a schedule.

A file with `transfers:` (instead of `tables:`) becomes one DAG with one task per transfer, each an
`S3ToGCSIncrementalOperator` (platform_dags.transfer). Everything else at the top level (name,
schedule, owner, alerts, defaults) is shared with the other kinds and means the same thing: retries
from `defaults`, a PagerDuty page after the last retry, a Slack start / failure / summary story (the
summary counts the objects and bytes copied).
"""

from __future__ import annotations

import re

from pydantic import Field, create_model, field_validator

from platform_dags.factory.source import Document, Problem
from platform_dags.factory.spec import CONN_ID, TABLE_NAME, Pipeline, _check, _Strict

# Bucket names as both clouds accept them (3-63 characters, lower case, digits, dots, dashes).
BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$")


def _url(value: str, scheme: str, example: str) -> str:
    if not value.startswith(f"{scheme}://"):
        raise ValueError(f"must start with {scheme}:// (like {example}), got {value!r}")
    bucket, _, prefix = value[len(scheme) + 3:].partition("/")
    if not bucket:
        raise ValueError(f"{value!r} names no bucket (write {example})")
    if not BUCKET.match(bucket):
        raise ValueError(f"{bucket!r} is not a valid bucket name (3-63 lower case letters, digits, . _ -)")
    if "//" in prefix:
        raise ValueError(f"{value!r} has an empty folder in its prefix ('//')")
    return value


class Transfer(_Strict):
    """One copy: every object under the source prefix that is new or changed lands under the destination."""

    name: str = Field(description="Unique name in the pipeline (lower case, digits, _); the task id.")
    source: str = Field(description="S3 prefix to copy from, s3://bucket/prefix/ (the prefix is a folder).")
    destination: str = Field(description="GCS prefix to copy to, gs://bucket/prefix/.")
    source_conn_id: str = Field(default="aws_default", description="Airflow AWS connection for the source.")
    destination_conn_id: str = Field(default="google_cloud_default", description="Airflow Google Cloud connection for the destination.")
    parallel: int = Field(default=8, ge=1, le=64, description="Objects copied at the same time.")

    _name = field_validator("name")(lambda v: _check(TABLE_NAME, v, "transfer name (lower case letters, digits and _, at most 48)"))
    _source = field_validator("source")(lambda v: _url(v, "s3", "s3://bucket/prefix/"))
    _destination = field_validator("destination")(lambda v: _url(v, "gs", "gs://bucket/prefix/"))
    _conns = field_validator("source_conn_id", "destination_conn_id")(lambda v: _check(CONN_ID, v, "connection id"))


# The shared top-level keys are Pipeline's own fields (one definition); only the kind's list differs.
TransferPipeline = create_model(
    "TransferPipeline",
    __base__=_Strict,
    __doc__="A pipeline file with `transfers:`: one Airflow DAG copying S3 prefixes to GCS.",
    **{name: (f.annotation, f) for name, f in Pipeline.model_fields.items() if name != "tables"},
    transfers=(list[Transfer], Field(min_length=1, description="The copies, each one task.")),
)


def _folder(url: str) -> str:
    return url if url.endswith("/") else url + "/"


def transfer_checks(doc: Document, transfers: list) -> list[Problem]:
    """Whole-file checks: unique names, and no two transfers writing into the same destination folder
    (each would copy the other's objects again, their metadata naming a different source)."""
    problems: list[Problem] = []
    names: dict[str, int] = {}
    dests: list[tuple[str, int]] = []
    for i, t in enumerate(transfers):
        if not isinstance(t, dict):
            continue
        name = t.get("name")
        if isinstance(name, str):
            if name in names:
                first = doc.problem(("transfers", names[name], "name"), "").line
                problems.append(doc.problem(("transfers", i, "name"), f"transfers[{i}].name: duplicate transfer name {name!r} (first defined on line {first})"))
            else:
                names[name] = i
        dest = t.get("destination")
        if isinstance(dest, str) and dest.startswith("gs://"):
            for other, j in dests:
                if _folder(dest).startswith(_folder(other)) or _folder(other).startswith(_folder(dest)):
                    line = doc.problem(("transfers", j, "destination"), "").line
                    problems.append(doc.problem(("transfers", i, "destination"), f"transfers[{i}].destination: {dest!r} overlaps {other!r} (line {line}); give each transfer its own folder"))
                    break
            dests.append((dest, i))
    return problems


def build_transfer_dag(pipeline) -> object:
    """The DAG for a validated TransferPipeline: one incremental copy task per transfer."""
    from platform_dags.factory.build import new_dag
    from platform_dags.transfer import S3ToGCSIncrementalOperator

    dag = new_dag(pipeline, story="transfers")
    with dag:
        for t in pipeline.transfers:
            S3ToGCSIncrementalOperator(
                task_id=t.name,
                source=t.source,
                destination=t.destination,
                aws_conn_id=t.source_conn_id,
                gcp_conn_id=t.destination_conn_id,
                parallel=t.parallel,
            )
    return dag


# --- Graph (`invoke dags.graph`): one row per transfer, source → task → destination ----------------

def to_svg(pipeline) -> str:
    """A standalone SVG: per transfer a source box, the task (`<g class="transfer" id="transfer-NAME">`)
    and a destination box, joined by arrows (`<path class="copy">`)."""
    from xml.sax.saxutils import escape

    from platform_dags.factory.graph import _BOX_H, _CHAR_W, _GAP_X, _GAP_Y, _PAD

    def width(text: str) -> float:
        return max(90.0, _CHAR_W * len(text) + 24)

    rows = [(t.source, t.name, t.destination) for t in pipeline.transfers]
    cols = [max(width(row[c]) for row in rows) for c in range(3)]
    arrow_w = 3 * _GAP_X
    title = f"{pipeline.name}: {len(rows)} transfers ({pipeline.schedule or 'manual'})"
    total_w = max(sum(cols) + 2 * arrow_w, _CHAR_W * len(title)) + 2 * _PAD
    top = _PAD + 40
    total_h = top + len(rows) * (_BOX_H + _GAP_Y / 2) + _PAD
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{total_w:.0f}" height="{total_h:.0f}" '
        f'viewBox="0 0 {total_w:.0f} {total_h:.0f}" font-family="sans-serif" font-size="12">',
        f"<title>{escape(title)}</title>",
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker></defs>',
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="{_PAD}" y="{_PAD + 12}" font-size="14" font-weight="bold">{escape(title)}</text>',
        f'<text x="{_PAD}" y="{_PAD + 28}" fill="#555">new and changed objects are copied on every run</text>',
    ]
    fills = ("#fdf2e0", "rgb(200,215,255)", "#e6f4ea")  # S3 orange-ish, task blue, GCS green-ish
    for r, (source, name, destination) in enumerate(rows):
        y = top + r * (_BOX_H + _GAP_Y / 2)
        x = float(_PAD)
        for c, (kind, text) in enumerate((("source", source), ("transfer", name), ("destination", destination))):
            ident = f' id="transfer-{name}"' if kind == "transfer" else ""
            out.append(
                f'<g class="{kind}"{ident}><rect x="{x:.1f}" y="{y:.1f}" width="{cols[c]:.1f}" height="{_BOX_H}" rx="6" '
                f'fill="{fills[c]}" stroke="#335"/><text x="{x + cols[c] / 2:.1f}" y="{y + _BOX_H / 2 + 4:.1f}" '
                f'text-anchor="middle">{escape(text)}</text></g>'
            )
            x += cols[c]
            if c < 2:
                ends = (source, name) if c == 0 else (name, destination)
                out.append(
                    f'<path class="copy" data-from="{escape(ends[0])}" data-to="{escape(ends[1])}" '
                    f'd="M {x:.1f} {y + _BOX_H / 2:.1f} L {x + arrow_w:.1f} {y + _BOX_H / 2:.1f}" stroke="#555" '
                    f'stroke-width="1.2" marker-end="url(#arrow)"/>'
                )
                x += arrow_w
    out.append("</svg>")
    return "\n".join(out) + "\n"


def to_mermaid(pipeline) -> str:
    """Mermaid flowchart text: `source --> transfer --> destination` per transfer."""
    lines = [f"%% {pipeline.name}: transfers (generated by invoke dags.graph; do not edit)", "flowchart LR"]
    for i, t in enumerate(pipeline.transfers):
        lines.append(f'    s{i}["{t.source}"] --> t_{t.name}(["{t.name}"]) --> d{i}["{t.destination}"]')
    return "\n".join(lines) + "\n"
