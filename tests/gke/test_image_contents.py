"""What the platform image carries: everything the Airflow side imports, where the builder looks for it.

No Docker engine exists here, so the image's Python files are laid out from the Dockerfile's own COPY
lines in a temporary folder, and a fresh interpreter imports every module with only that folder (the
image's PYTHONPATH) and the installed packages: a missing COPY fails, as it would in a task pod.
"""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from infra.airflow_config import IMAGE_DAGS_DIR, IMAGE_LIB_DIR, build
from infra.image import copies, copy_sources, dockerfile_instructions
from tests.cli.helpers import load_env

ROOT = Path(__file__).resolve().parents[2]
# Providers the Airflow side imports that the image leaves out on purpose, with the reason.
NOT_IN_IMAGE = {
    "apache-airflow-providers-apache-spark": "the `local` Spark target (spark-submit from the pyspark wheel, on a JVM) "
    "runs on runtime local only; on GKE Spark runs on Dataproc or EMR",
}
IMPORT_EVERYTHING = r"""
import importlib, pkgutil, runpy, sys, traceback
from pathlib import Path

# Only the image's folders: not this checkout's editable install, not the current directory.
sys.meta_path[:] = [f for f in sys.meta_path if "__editable__" not in getattr(f, "__module__", "")]
lib, dags = sys.argv[1], sys.argv[2]
failed = []
for info in pkgutil.walk_packages([lib], onerror=lambda name: failed.append(f"{name}: {sys.exc_info()[1]!r}")):
    try:
        importlib.import_module(info.name)
    except Exception as exc:
        failed.append(f"{info.name}: {exc!r}")
for dag in sorted(Path(dags).glob("*.py")):
    try:
        runpy.run_path(str(dag))
    except Exception as exc:
        failed.append(f"{dag.name}: {exc!r}")
for layer in ("infra", "stacks"):  # the Airflow side never needs them; here they must not even exist
    try:
        importlib.import_module(layer)
        failed.append(f"{layer} is importable: this is not the image's path")
    except ImportError:
        pass
print("\n".join(failed))
sys.exit(1 if failed else 0)
"""


def _image_tree(where: Path) -> Path:
    """The files the COPY lines put in the image, at their destinations under `where`."""
    for sources, dest in copies(ROOT):
        target = where / dest.lstrip("/")
        for source in sources:
            path = ROOT / source
            if path.is_dir():  # `COPY folder/ dest/` copies the folder's contents
                shutil.copytree(path, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"), dirs_exist_ok=True)
            elif dest.endswith("/"):
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy(path, target / path.name)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(path, target)
    return where


def _image_env() -> dict[str, str]:
    """The Dockerfile's ENV settings."""
    env = {}
    for words in dockerfile_instructions((ROOT / "Dockerfile").read_text()):
        if words[0].upper() == "ENV":
            env.update(word.split("=", 1) for word in words[1:])
    return env


def _pip_packages() -> set[str]:
    (words,) = [w for w in dockerfile_instructions((ROOT / "Dockerfile").read_text()) if "pip" in w and "install" in w]
    args = words[words.index("install") + 1:]
    return {a.split("[")[0].split("==")[0].lower() for a in args if not a.startswith("-") and not a.startswith("/")}


def _python_files() -> dict[str, Path]:
    files = {}
    for source in copy_sources(ROOT):
        path = ROOT / source
        for file in [path] if path.is_file() else sorted(path.rglob("*.py")):
            if file.suffix == ".py":
                files[file.relative_to(ROOT).as_posix()] = file
    return files


def _provider_of(module: str) -> str:
    """The installed provider distribution that holds `module` (longest package prefix wins)."""
    found = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"].lower()
        if name.startswith("apache-airflow-providers-"):
            package = "airflow.providers." + name.removeprefix("apache-airflow-providers-").replace("-", ".")
            if module == package or module.startswith(package + "."):
                found[package] = name
    assert found, f"no installed provider holds {module}"
    return found[max(found, key=len)]


def _imported_providers() -> dict[str, set[str]]:
    """Provider distribution → the image's files that import from it."""
    used: dict[str, set[str]] = {}
    for name, file in _python_files().items():
        for node in ast.walk(ast.parse(file.read_text(), name)):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            for module in modules:
                if module.startswith("airflow.providers."):
                    used.setdefault(_provider_of(module), set()).add(name)
    return used


def test_the_image_installs_every_provider_the_airflow_side_imports():
    used = _imported_providers()
    missing = {dist: sorted(files) for dist, files in used.items() if dist not in _pip_packages() | set(NOT_IN_IMAGE)}
    assert missing == {}, f"imported in the image but not installed by the Dockerfile's pip line: {missing}"
    assert set(NOT_IN_IMAGE) <= set(used), "a reason for leaving out a provider nobody imports: remove it"


def test_every_copy_source_is_sent_to_a_local_docker_build():
    kept = {line.strip().removeprefix("!") for line in (ROOT / ".dockerignore").read_text().splitlines() if line.startswith("!")}
    assert set(copy_sources(ROOT)) <= kept, f".dockerignore leaves out COPY sources: {set(copy_sources(ROOT)) - kept}"


def test_the_builder_looks_for_the_system_dags_and_packages_where_the_image_puts_them():
    destinations = {dest.rstrip("/") for _, dest in copies(ROOT)}
    assert IMAGE_DAGS_DIR in destinations
    assert {f"{IMAGE_DAGS_DIR}/{p.name}" for p in (ROOT / "dags").glob("system_*.py")} <= {
        f"{dest.rstrip('/')}/{Path(s).name}" for sources, dest in copies(ROOT) for s in sources}, "a system DAG is not in the image"
    assert _image_env()["PYTHONPATH"] == IMAGE_LIB_DIR == ":".join(build(load_env("prod")).python_path)
    bundles = json.loads(build(load_env("prod")).get("dag_processor", "dag_bundle_config_list"))
    assert {b["name"]: b["kwargs"].get("path") for b in bundles}["platform"] == IMAGE_DAGS_DIR


@pytest.mark.integration
def test_every_module_and_system_dag_imports_with_only_what_the_image_copies(tmp_path):
    tree = _image_tree(tmp_path / "image")
    lib = tree / _image_env()["PYTHONPATH"].lstrip("/")
    assert (lib / "platform_dags").is_dir()
    env = {k: v for k, v in __import__("os").environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_EVERYTHING, str(lib), str(tree / IMAGE_DAGS_DIR.lstrip("/"))],
        cwd=tree, env={**env, "PYTHONPATH": str(lib)}, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, f"not importable in the image:\n{result.stdout}{result.stderr[-2000:]}"
