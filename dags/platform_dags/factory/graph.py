"""Draw a pipeline's table dependency graph as SVG and as Mermaid text, with no dependency.

Layered layout: a table's rank is the length of the longest dependency chain above it, so every arrow
points down and a reviewer reads the run order top to bottom. Arrows spanning several ranks are routed
through a point on each rank in between; within a rank, boxes and points are ordered by the mean
position of their neighbours (barycenter sweeps, down and up) to keep crossings few.
Box colour shows priority (darker = higher). Graphviz would lay out better, but it is a system
binary the Airflow image and CI would need; this is enough to review the order in a PR.
"""

from __future__ import annotations

from typing import NamedTuple
from xml.sax.saxutils import escape

from platform_dags.factory.spec import Pipeline


class _Node(NamedTuple):
    name: str
    depends_on: list[str]
    priority: int
    tip: str


def _nodes(pipeline) -> tuple[str, list[_Node]]:
    """The boxes to draw and what they are called: tables, or the jobs of a `jobs:` pipeline."""
    if hasattr(pipeline, "jobs"):
        return "job", [_Node(j.name, j.depends_on, 1, f"{j.name}: {j.script}") for j in pipeline.jobs]
    return "table", [
        _Node(t.name, t.depends_on, t.priority, f"{t.name} → {t.destination.table} ({t.destination.mode}), priority {t.priority}")
        for t in pipeline.tables
    ]

_BOX_H, _GAP_X, _GAP_Y, _PAD, _CHAR_W = 34, 24, 56, 20, 7.2


def ranks(pipeline: Pipeline) -> dict[str, int]:
    """Rank (depth) of every table: 0 for tables without dependencies."""
    ups = {t.name: t.depends_on for t in _nodes(pipeline)[1]}
    rank: dict[str, int] = {}
    for start in ups:  # iterative longest-path on a validated (acyclic) graph
        stack = [start]
        while stack:
            name = stack[-1]
            if name in rank:
                stack.pop()
                continue
            todo = [d for d in ups[name] if d not in rank]
            if todo:
                stack.extend(todo)
            else:
                rank[name] = 1 + max((rank[d] for d in ups[name]), default=-1)
                stack.pop()
    return rank


def _layers(pipeline: Pipeline) -> tuple[list[list[str]], dict[tuple[str, str], list[str]]]:
    """Tables per rank, ordered to keep crossings few, and the route of every dependency.

    A dependency spanning several ranks passes through a virtual point on each rank in between
    (named `dep>table#rank`), so it is routed around the boxes instead of through them.
    """
    rank = ranks(pipeline)
    nodes = _nodes(pipeline)[1]
    layers: list[list[str]] = [[] for _ in range(max(rank.values()) + 1)]
    for t in nodes:
        layers[rank[t.name]].append(t.name)
    ups: dict[str, list[str]] = {t.name: [] for t in nodes}
    routes: dict[tuple[str, str], list[str]] = {}
    for t in nodes:
        for dep in t.depends_on:
            prev, route = dep, []
            for r in range(rank[dep] + 1, rank[t.name]):
                point = f"{dep}>{t.name}#{r}"
                layers[r].append(point)
                ups[point] = [prev]
                route.append(point)
                prev = point
            ups[t.name].append(prev)
            routes[(dep, t.name)] = route
    downs: dict[str, list[str]] = {n: [] for n in ups}
    for n, us in ups.items():
        for u in us:
            downs[u].append(n)

    def sweep(order: list[list[str]], neighbours: dict[str, list[str]]) -> None:
        pos = {name: i for layer in layers for i, name in enumerate(layer)}
        for layer in order:
            layer.sort(key=lambda n: sum(pos[m] for m in neighbours[n]) / len(neighbours[n]) if neighbours[n] else pos[n])
            pos.update({name: i for i, name in enumerate(layer)})

    for _ in range(3):  # barycenter heuristic, down then up
        sweep(layers[1:], ups)
        sweep(layers[-2::-1], downs)
    return layers, routes


def to_svg(pipeline: Pipeline) -> str:
    """A standalone SVG: one labelled box per table (`<g class="table" id="table-NAME">`), one arrow per dependency."""
    if hasattr(pipeline, "transfers"):  # transfers draw themselves
        from platform_dags.factory import transfer

        return transfer.to_svg(pipeline)
    layers, routes = _layers(pipeline)
    noun, nodes = _nodes(pipeline)
    priority = {t.name: t.priority for t in nodes}
    top = max(priority.values()) or 1
    width_of = {n: (max(90.0, _CHAR_W * len(n) + 24) if n in priority else 8.0) for layer in layers for n in layer}
    row_w = [sum(width_of[n] for n in layer) + _GAP_X * (len(layer) - 1) for layer in layers]
    title = f"{pipeline.name}: {len(priority)} {noun}s"
    subtitle = f"an arrow leads from a {noun} to those that wait for it"
    total_w = max(max(row_w), _CHAR_W * len(subtitle)) + 2 * _PAD
    title_h = 40
    total_h = title_h + len(layers) * (_BOX_H + _GAP_Y) - _GAP_Y + 2 * _PAD
    box: dict[str, tuple[float, float, float]] = {}  # name -> (x, y, width)
    for r, layer in enumerate(layers):
        x = _PAD + (total_w - 2 * _PAD - row_w[r]) / 2
        y = _PAD + title_h + r * (_BOX_H + _GAP_Y)
        for name in layer:
            box[name] = (x, y, width_of[name])
            x += width_of[name] + _GAP_X

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{total_w:.0f}" height="{total_h:.0f}" '
        f'viewBox="0 0 {total_w:.0f} {total_h:.0f}" font-family="sans-serif" font-size="12">',
        f"<title>{escape(title)}</title>",
        "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"8\" markerHeight=\"8\" "
        "orient=\"auto-start-reverse\"><path d=\"M 0 0 L 10 5 L 0 10 z\" fill=\"#555\"/></marker></defs>",
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="{_PAD}" y="{_PAD + 12}" font-size="14" font-weight="bold">{escape(title)}</text>',
        f'<text x="{_PAD}" y="{_PAD + 28}" fill="#555">{escape(subtitle)}</text>',
    ]
    for (dep, name), route in routes.items():
        x1, y1, w1 = box[dep]
        points = [(x1 + w1 / 2, y1 + _BOX_H)]
        for point in route:  # enter and leave each virtual point vertically
            px, py, pw = box[point]
            points += [(px + pw / 2, py), (px + pw / 2, py + _BOX_H)]
        x2, y2, w2 = box[name]
        points.append((x2 + w2 / 2, y2))
        d = f"M {points[0][0]:.1f} {points[0][1]:.1f}"
        for (sx, sy), (ex, ey) in zip(points[::2], points[1::2]):
            my = (sy + ey) / 2
            d += f" L {sx:.1f} {sy:.1f} C {sx:.1f} {my:.1f}, {ex:.1f} {my:.1f}, {ex:.1f} {ey:.1f}"
        out.append(
            f'<path class="dependency" data-from="{dep}" data-to="{name}" d="{d}" fill="none" stroke="#555" '
            f'stroke-width="1.2" marker-end="url(#arrow)"/>'
        )
    for t in nodes:
        x, y, w = box[t.name]
        shade = int(235 - 120 * (t.priority / top))
        fill = f"rgb({shade},{min(255, shade + 15)},255)"
        out.append(
            f'<g class="{noun}" id="{noun}-{t.name}"><title>{escape(t.tip)}</title>'
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{_BOX_H}" rx="6" fill="{fill}" stroke="#335"/>'
            f'<text x="{x + w / 2:.1f}" y="{y + _BOX_H / 2 + 4:.1f}" text-anchor="middle">{escape(t.name)}</text></g>'
        )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def to_mermaid(pipeline: Pipeline) -> str:
    """Mermaid flowchart text (renders in GitHub and GitLab markdown): `t_dep --> t_table` per dependency."""
    if hasattr(pipeline, "transfers"):
        from platform_dags.factory import transfer

        return transfer.to_mermaid(pipeline)
    noun, nodes = _nodes(pipeline)
    lines = [f"%% {pipeline.name}: {noun} dependencies (generated by invoke dags.graph; do not edit)", "flowchart TD"]
    # Node ids get a prefix: a table called `end` or `graph` would otherwise be a Mermaid keyword.
    for t in nodes:
        label = f"priority {t.priority}" if noun == "table" else t.tip.split(": ", 1)[1]
        lines.append(f'    t_{t.name}["{t.name}<br/>{label}"]')
    for t in nodes:
        lines.extend(f"    t_{dep} --> t_{t.name}" for dep in t.depends_on)
    return "\n".join(lines) + "\n"
