"""`invoke dags.graph`: the table dependency graph as SVG (one box per table, one arrow per dependency) and Mermaid."""

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from infra import dagtools
from infra.errors import UserError
from platform_dags.factory import load_pipeline

ROOT = Path(__file__).resolve().parents[2]
SVG = "{http://www.w3.org/2000/svg}"
SHIPPED = sorted((ROOT / "dags" / "pipelines").glob("*.yaml"))
TABLE_PIPELINES = [p for p in SHIPPED if not hasattr(load_pipeline(p), "transfers")]  # tables and jobs; transfers: tests/transfer/


def _boxes(pipeline):
    """(box class, items): tables of an ETL pipeline, jobs of a Spark pipeline."""
    return ("job", pipeline.jobs) if hasattr(pipeline, "jobs") else ("table", pipeline.tables)


@pytest.fixture(params=TABLE_PIPELINES, ids=lambda p: p.stem)
def shipped(request) -> Path:
    return request.param


def test_svg_has_a_box_per_table_and_an_arrow_per_dependency(shipped, tmp_path):
    out = tmp_path / "graph.svg"
    assert dagtools.graph(str(shipped), out=str(out)) == 0
    pipeline = load_pipeline(shipped)
    kind, items = _boxes(pipeline)
    root = ET.parse(out).getroot()  # well-formed XML, an <svg> a browser renders
    assert root.tag == f"{SVG}svg" and float(root.get("width")) > 0 and float(root.get("height")) > 0
    boxes = {g.get("id"): g for g in root.iter(f"{SVG}g") if g.get("class") == kind}
    assert set(boxes) == {f"{kind}-{t.name}" for t in items}
    for t in items:
        box = boxes[f"{kind}-{t.name}"]
        assert box.find(f"{SVG}rect") is not None and box.find(f"{SVG}text").text == t.name
    arrows = {(p.get("data-from"), p.get("data-to")) for p in root.iter(f"{SVG}path") if p.get("class") == "dependency"}
    assert arrows == {(dep, t.name) for t in items for dep in t.depends_on}
    assert all(p.get("marker-end") == "url(#arrow)" for p in root.iter(f"{SVG}path") if p.get("class") == "dependency")


def test_arrows_point_down_the_run_order(tmp_path):
    path = tmp_path / "chain.yaml"
    path.write_text(
        "schedule: null\nowner: me\ntables:\n"
        + "".join(
            f"  - name: {n}\n    source: {{conn_id: s, table: {n}}}\n    destination: {{conn_id: w, table: {n}}}\n    depends_on: [{d}]\n"
            for n, d in [("c", "b"), ("a", ""), ("b", "a")]
        )
    )
    out = tmp_path / "chain.svg"
    dagtools.graph(str(path), out=str(out))
    root = ET.parse(out).getroot()
    top = {g.get("id"): float(g.find(f"{SVG}rect").get("y")) for g in root.iter(f"{SVG}g") if g.get("class") == "table"}
    assert top["table-a"] < top["table-b"] < top["table-c"]


def test_mermaid_text_beside_the_svg_has_every_edge(shipped, tmp_path):
    out = tmp_path / "g.svg"
    dagtools.graph(str(shipped), out=str(out))
    text = (tmp_path / "g.mmd").read_text()
    pipeline = load_pipeline(shipped)
    lines = text.splitlines()
    assert "flowchart TD" in lines
    edges = {line.strip() for line in lines if "-->" in line}
    assert edges == {f"t_{dep} --> t_{t.name}" for t in _boxes(pipeline)[1] for dep in t.depends_on}


def test_unknown_pipeline_is_one_line_naming_the_known_ones():
    with pytest.raises(UserError) as info:
        dagtools.graph("no_such_pipeline")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("no pipeline 'no_such_pipeline':")
    assert all(p.stem in message for p in SHIPPED)


@pytest.mark.integration
def test_invoke_dags_graph_from_the_command_line(shipped, tmp_path):
    out = tmp_path / "cli.svg"
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "invoke"), "dags.graph", shipped.stem, "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert out.is_file() and out.with_suffix(".mmd").is_file()
    bad = subprocess.run([str(Path(sys.executable).parent / "invoke"), "dags.graph", "nope"], cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode == 1
    assert bad.stderr.strip().startswith("error: no pipeline 'nope'") and "Traceback" not in bad.stderr


def test_default_output_is_git_ignored_build_output(shipped):
    # A protected deploy refuses a dirty tree: drawing a graph must not make one.
    svg = dagtools.GRAPHS_DIR / f"{shipped.stem}.svg"
    existed = {p: p.exists() for p in (svg, svg.with_suffix(".mmd"))}
    try:
        assert dagtools.graph(shipped.stem) == 0
        assert svg.is_file() and svg.with_suffix(".mmd").is_file()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=all", "--", str(dagtools.GRAPHS_DIR)],
            cwd=ROOT, capture_output=True, text=True, check=True,
        )
        assert status.stdout == ""
    finally:
        for path, was_there in existed.items():
            if not was_there:
                path.unlink(missing_ok=True)
