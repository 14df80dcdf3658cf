"""`invoke dags.validate [PATH]`: the CI check of a DAG repository — `file:LINE:COL: message` per problem."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from infra import dagtools

ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "dags"
BAD = Path(__file__).parent / "bad_pipelines"
INVOKE = str(Path(sys.executable).parent / "invoke")

GOOD = 'schedule: "@daily"\nowner: me\ntables:\n  - name: a\n    source: {conn_id: s, table: a}\n    destination: {conn_id: w, table: raw.a}\n'


@pytest.fixture
def folder(tmp_path) -> Path:
    dags = tmp_path / "dags"
    (dags / "pipelines").mkdir(parents=True)
    for name in ("pipelines_loader.py", "pipelines_check.py", ".airflowignore"):
        shutil.copy(DAGS / name, dags / name)
    (dags / "pipelines" / "good.yaml").write_text(GOOD)
    return dags


def test_project_dags_folder_validates(capsys):
    assert dagtools.validate(None) == 0
    out = capsys.readouterr().out
    assert out.startswith("OK: ") and "no import errors" in out


def test_problems_are_one_line_each_with_file_line_and_column(folder, capsys, monkeypatch):
    monkeypatch.chdir(folder.parent)
    shutil.copy(BAD / "unknown_dependency.yaml", folder / "pipelines" / "unknown_dependency.yaml")
    shutil.copy(BAD / "cycle.yaml", folder / "pipelines" / "cycle.yaml")
    assert dagtools.validate("dags") == 1
    assert capsys.readouterr().out.splitlines() == [
        "dags/pipelines/cycle.yaml:12:18: cycle: members -> events -> rsvps -> members",
        "dags/pipelines/unknown_dependency.yaml:11:18: tables[1].depends_on: unknown table 'member' (did you mean 'members'?)",
    ]


def test_a_dag_file_that_fails_to_import_is_reported_with_its_line(folder, capsys, monkeypatch):
    monkeypatch.chdir(folder.parent)
    (folder / "broken_dag.py").write_text("from airflow.sdk import DAG\n\nx = 1\nraise RuntimeError('boom in a DAG file')\n")
    assert dagtools.validate("dags") == 1
    assert capsys.readouterr().out.splitlines() == ["dags/broken_dag.py:4: RuntimeError: boom in a DAG file"]


def test_a_pipeline_without_a_loader_is_reported(folder, capsys, monkeypatch):
    monkeypatch.chdir(folder.parent)
    (folder / "pipelines_loader.py").unlink()
    assert dagtools.validate("dags") == 1
    assert capsys.readouterr().out.splitlines() == [
        "dags/pipelines/good.yaml:1:1: DAG 'good' was not built by any DAG file in dags (is pipelines_loader.py there?)"
    ]


def test_a_folder_of_valid_files_passes_with_a_summary(folder, capsys):
    assert dagtools.validate(str(folder)) == 0
    assert "OK: 1 pipeline(s) (1 tables), 1 DAG(s)" in capsys.readouterr().out


@pytest.mark.integration
def test_invoke_dags_validate_exits_non_zero_with_file_line_col_lines(folder):
    shutil.copy(BAD / "bad_mode.yaml", folder / "pipelines" / "bad_mode.yaml")
    proc = subprocess.run([INVOKE, "dags.validate", str(folder)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 1
    expected = BAD.joinpath("bad_mode.yaml").read_text().splitlines()[0].removeprefix("# expect: ")
    assert proc.stdout.splitlines() == [f"{folder / 'pipelines' / 'bad_mode.yaml'}:{expected}"]
    assert "Traceback" not in proc.stderr


@pytest.mark.integration
def test_invoke_dags_validate_passes_on_the_shipped_dags():
    proc = subprocess.run([INVOKE, "dags.validate"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("OK: ")


def test_a_yml_file_that_the_loader_would_ignore_is_flagged(folder, capsys, monkeypatch):
    monkeypatch.chdir(folder.parent)
    (folder / "pipelines" / "orders.yml").write_text(GOOD)
    assert dagtools.validate("dags") == 1
    assert capsys.readouterr().out.splitlines() == [
        "dags/pipelines/orders.yml:1:1: ignored: pipeline files must end in .yaml (rename it to orders.yaml)"
    ]
