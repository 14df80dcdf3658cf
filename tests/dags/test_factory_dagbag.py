"""The factory inside real Airflow: DagBag imports, import errors for broken files, worker-side parsing.

A DAGs folder is built in tmp_path from the project's own DAG files (`pipelines_loader.py`,
`pipelines_check.py`, `.airflowignore`); the library `platform_dags` comes from the project's dags/.
"""

import shutil
import sys
from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import BundleDagBag, DagBag
from airflow.sdk.definitions.context import _AIRFLOW_PARSING_CONTEXT_DAG_ID, _AIRFLOW_PARSING_CONTEXT_TASK_ID

DAGS = Path(__file__).resolve().parents[2] / "dags"


def pipeline_yaml(*tables: str, deps: dict | None = None) -> str:
    deps = deps or {}
    body = "".join(
        f"  - name: {t}\n    source: {{conn_id: src, table: {t}}}\n    destination: {{conn_id: wh, table: raw.{t}}}\n"
        f"    depends_on: [{', '.join(deps.get(t, []))}]\n"
        for t in tables
    )
    return f'schedule: "@daily"\nowner: data-platform\ntables:\n{body}'


BROKEN = pipeline_yaml("a", "b").replace("depends_on: []", "depends_on: [nope]", 1)


@pytest.fixture
def dags_folder(tmp_path) -> Path:
    for name in ("pipelines_loader.py", "pipelines_check.py", ".airflowignore"):
        shutil.copy(DAGS / name, tmp_path / name)
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "alpha.yaml").write_text(pipeline_yaml("members", "events", deps={"events": ["members"]}))
    (tmp_path / "pipelines" / "beta.yaml").write_text(pipeline_yaml("groups"))
    return tmp_path


def test_project_dags_folder_imports_without_errors_and_builds_every_pipeline():
    bag = DagBag(dag_folder=DAGS)
    assert bag.import_errors == {}
    for path in (DAGS / "pipelines").glob("*.yaml"):
        assert path.stem in bag.dags, f"{path.name} did not become a DAG"
    assert not any("platform_dags" in dag.fileloc for dag in bag.dags.values()), ".airflowignore keeps the library out"


def test_a_broken_pipeline_is_an_import_error_naming_file_and_line_and_the_others_still_load(dags_folder):
    (dags_folder / "pipelines" / "broken.yaml").write_text(BROKEN)
    bag = DagBag(dag_folder=dags_folder)
    assert set(bag.dags) == {"alpha", "beta"}
    assert list(bag.import_errors) == [str(dags_folder / "pipelines_check.py")]
    error = bag.import_errors[str(dags_folder / "pipelines_check.py")]
    assert "pipelines/broken.yaml:7:18: tables[0].depends_on: unknown table 'nope'" in error
    # the good pipelines' DAG file has no error, so Airflow keeps scheduling them
    assert all(dag.fileloc == str(dags_folder / "pipelines_loader.py") for dag in bag.dags.values())


def test_fixing_the_file_clears_the_import_error(dags_folder):
    broken = dags_folder / "pipelines" / "broken.yaml"
    broken.write_text(BROKEN)
    assert DagBag(dag_folder=dags_folder).import_errors
    broken.write_text(pipeline_yaml("a", "b"))
    bag = DagBag(dag_folder=dags_folder)
    assert bag.import_errors == {}
    assert set(bag.dags) == {"alpha", "beta", "broken"}


@pytest.fixture
def worker_parse(monkeypatch):
    """What the task runner does before running a task (airflow.sdk.execution_time.task_runner.parse):
    set the parsing context (Airflow's context manager sets these variables; monkeypatch also unsets
    them afterwards) and import only the DAG's own file."""

    def parse(dags_folder: Path, dag_id: str, task_id: str) -> BundleDagBag:
        with monkeypatch.context() as env:
            env.setenv(_AIRFLOW_PARSING_CONTEXT_DAG_ID, dag_id)
            env.setenv(_AIRFLOW_PARSING_CONTEXT_TASK_ID, task_id)
            return BundleDagBag(
                dag_folder=str(dags_folder / "pipelines_loader.py"),
                safe_mode=False,
                load_op_links=False,
                bundle_path=dags_folder,
                bundle_name="dags-folder",
            )

    return parse


def test_a_worker_builds_only_the_dag_of_its_task(dags_folder, worker_parse):
    bag = worker_parse(dags_folder, "beta", "groups.extract")
    assert set(bag.dags) == {"beta"}
    assert "groups.extract" in bag.dags["beta"].task_dict
    assert bag.import_errors == {}


class OpenedFiles:
    """Paths the process opens, seen through Python's audit hook on `open` (hooks cannot be removed,
    so one hook is installed per test session and records only while a recorder is active)."""

    active: list[str] | None = None
    installed = False

    def __enter__(self) -> list[str]:
        if not OpenedFiles.installed:
            sys.addaudithook(lambda event, args: OpenedFiles.active is not None and event == "open" and OpenedFiles.active.append(str(args[0])))
            OpenedFiles.installed = True
        OpenedFiles.active = []
        return OpenedFiles.active

    def __exit__(self, *exc) -> None:
        OpenedFiles.active = None


def test_a_worker_does_not_read_the_other_pipeline_files(dags_folder, worker_parse):
    with OpenedFiles() as opened:
        bag = worker_parse(dags_folder, "alpha", "events.publish")
    assert set(bag.dags) == {"alpha"}
    yaml_opened = sorted(Path(p).name for p in opened if p.endswith(".yaml"))
    assert yaml_opened == ["alpha.yaml"]
    # without the parsing context the same file reads every pipeline
    with OpenedFiles() as opened:
        DagBag(dag_folder=dags_folder / "pipelines_loader.py")
    assert sorted(Path(p).name for p in opened if p.endswith(".yaml")) == ["alpha.yaml", "beta.yaml"]


def test_a_worker_running_another_dag_builds_no_pipeline(dags_folder, worker_parse):
    bag = worker_parse(dags_folder, "system_canary", "touch")
    assert bag.dags == {}
    assert bag.import_errors == {}
