"""Bad pipeline files: each problem is reported once, as `file:LINE:COL: message`, before any DAG is built.

Every file in bad_pipelines/ holds one mistake and states on its first line the exact report expected
(`# expect: LINE:COL: message`), so a case reads as the user would see it.
"""

from pathlib import Path

import pytest

from platform_dags.factory import PipelineError, load_pipeline

BAD = Path(__file__).parent / "bad_pipelines"
CASES = sorted(BAD.glob("*.yaml"))


def _expected(path: Path) -> str:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name}: first line must state the expected report"
    return f"{path.name}:{first.removeprefix('# expect: ')}"


def test_there_are_at_least_fifteen_bad_cases():
    assert len(CASES) >= 15


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_bad_pipeline_is_reported_at_its_line_and_column(path):
    with pytest.raises(PipelineError) as info:
        load_pipeline(path, shown_as=path.name)
    assert [str(p) for p in info.value.problems] == [_expected(path)]


def test_every_problem_of_a_file_is_reported_in_one_pass(tmp_path):
    path = tmp_path / "many.yaml"
    path.write_text(
        """schedule: "@dayly"
owner: x
sheduel: 1
tables:
  - name: a
    source: {conn_id: src, table: "x; drop table y"}
    destination: {conn_id: wh, table: t, mode: upsert}
    depends_on: [c]
  - name: b
    source: {conn_id: src, table: x}
    destination: {conn_id: wh, table: t}
    depends_on: [a, zz]
  - name: c
    source: {conn_id: src, table: x}
    destination: {conn_id: wh, table: t}
    depends_on: [b]
"""
    )
    with pytest.raises(PipelineError) as info:
        load_pipeline(path, shown_as="many.yaml")
    assert str(info.value).splitlines() == [
        "many.yaml:1:11: schedule: unknown preset '@dayly' (did you mean '@daily'?)",
        "many.yaml:3:1: unknown key 'sheduel' (did you mean 'schedule'?)",
        "many.yaml:6:35: tables[0].source.table: 'x; drop table y' is not a valid table name"
        " (lower case letters, digits and _; optionally schema.table)",
        "many.yaml:7:48: tables[0].destination.mode: must be 'replace' or 'append', got 'upsert'",
        "many.yaml:12:18: cycle: a -> b -> c -> a",
        "many.yaml:12:21: tables[1].depends_on: unknown table 'zz'",
    ]


def test_a_long_dependency_chain_with_a_cycle_is_named_without_recursion_error(tmp_path):
    # 1,500 tables in one chain, the first depending on the last: deeper than Python's recursion limit.
    n = 1500
    tables = "".join(
        f"  - name: t{i}\n    source: {{conn_id: s, table: t{i}}}\n    destination: {{conn_id: w, table: t{i}}}\n"
        f"    depends_on: [t{(i - 1) % n}]\n"
        for i in range(n)
    )
    path = tmp_path / "chain.yaml"
    path.write_text(f"schedule: null\nowner: x\ntables:\n{tables}")
    with pytest.raises(PipelineError) as info:
        load_pipeline(path, shown_as="chain.yaml")
    (problem,) = info.value.problems
    assert problem.message == "cycle: " + " -> ".join(f"t{i}" for i in [*range(n), 0])

