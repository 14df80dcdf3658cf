"""How `invoke stats` shows a report: a rich table for people, exact JSON or CSV for programs, an SVG trend.

JSON and CSV carry the database's numbers unrounded (seconds as floats, rates as fractions); only the
table rounds them for reading. The SVG is drawn by hand (no plotting library in the image): one point
per day for p50 and one for p95 of the finished runs' durations.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from html import escape  # lighter to import than xml.sax.saxutils; SVG text needs the same escaping

from infra.stats import Day, Report

COLUMNS = ("runs", "success_rate", "avg_seconds", "p50_seconds", "p95_seconds", "avg_queued_seconds", "retries")


def human(seconds: float | None) -> str:
    """`1h 02m`, `3m 05s`, `12.3s`; `-` when unknown."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.1f}%"


def to_json(report: Report) -> str:
    return json.dumps(report.as_dict(), indent=2)


def to_csv(report: Report) -> str:
    key = "task_id" if report.dag_id else "dag_id"
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow((key, *COLUMNS))
    for row in report.rows:
        data = row.as_dict(key)
        writer.writerow([data[key], *("" if data[c] is None else data[c] for c in COLUMNS)])
    return out.getvalue()


def table(report: Report):
    """A rich Table, slowest first (the order the query returns)."""
    from rich.table import Table

    what = f"tasks of {report.dag_id}" if report.dag_id else "DAGs"
    title = f"{report.environment}: {what}, runs of the last {report.days} days"
    t = Table(title=title, title_justify="left")
    t.add_column("task" if report.dag_id else "DAG")
    for name in ("runs", "success", "avg", "p50", "p95", "queued avg", "retries"):
        t.add_column(name, justify="right")
    for r in report.rows:
        t.add_row(
            r.name, str(r.runs), percent(r.success_rate), human(r.avg_seconds), human(r.p50_seconds),
            human(r.p95_seconds), human(r.avg_queued_seconds), str(r.retries),
        )
    if not report.rows:
        t.caption = "no runs in this window"
    return t


def svg(days: list[Day], title: str, width: int = 720, height: int = 320) -> str:
    """A line chart of daily p50 and p95 (seconds); each day is one <circle class="p50|p95" data-day=…>."""
    left, right, top, bottom = 70, 20, 40, 50
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max((d.p95_seconds for d in days), default=0) or 1.0

    def x(i: int) -> float:
        return left + (plot_w * i / (len(days) - 1) if len(days) > 1 else plot_w / 2)

    def y(value: float) -> float:
        return top + plot_h * (1 - value / peak)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
        f'<title>{escape(title)}</title>',
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="{left}" y="24" font-family="sans-serif" font-size="14">{escape(title)}</text>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#888"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#888"/>',
        f'<text x="{left - 6}" y="{top + 4}" text-anchor="end" font-family="sans-serif" font-size="11">{escape(human(peak))}</text>',
        f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end" font-family="sans-serif" font-size="11">0s</text>',
    ]
    for series, colour in (("p50", "#1f77b4"), ("p95", "#d62728")):
        points = [(x(i), y(getattr(d, f"{series}_seconds"))) for i, d in enumerate(days)]
        if len(points) > 1:
            coords = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
            parts.append(f'<polyline class="{series}-line" points="{coords}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for d, (px, py) in zip(days, points):
            value = getattr(d, f"{series}_seconds")
            parts.append(
                f'<circle class="{series}" data-day="{d.day}" data-seconds="{value!r}" cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{colour}"/>'
            )
    if days:
        for i in sorted({0, len(days) - 1}):
            parts.append(
                f'<text x="{x(i):.1f}" y="{top + plot_h + 18}" text-anchor="middle" font-family="sans-serif" font-size="11">{days[i].day}</text>'
            )
    parts.append(f'<text x="{left + plot_w}" y="{height - 8}" text-anchor="end" font-family="sans-serif" font-size="11" fill="#1f77b4">p50</text>')
    parts.append(f'<text x="{left + plot_w - 40}" y="{height - 8}" text-anchor="end" font-family="sans-serif" font-size="11" fill="#d62728">p95</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def write_plot(report: Report, path: str) -> Path:
    target = Path(path)
    if target.suffix.lower() != ".svg":
        from infra.errors import UserError

        raise UserError(f"--plot writes SVG: give a file ending in .svg, got {path!r}")
    what = report.dag_id or "all DAGs"
    target.write_text(svg(report.daily or [], f"{report.environment}: {what}, daily run duration p50 / p95"))
    return target


def console(out=None):
    """A rich Console on `out`; wide when not a terminal, so piped tables keep whole task ids."""
    import sys

    from rich.console import Console

    out = out or sys.stdout
    return Console(file=out, width=None if out.isatty() else 160)


def render(report: Report, fmt: str) -> str | object:
    """The text (json, csv) or the rich renderable (table) for `fmt`."""
    if fmt == "json":
        return to_json(report)
    if fmt == "csv":
        return to_csv(report)
    return table(report)
