"""Helpers shared by the CLI tests: paths, git in a temporary repository, environments, a captured console, a loopback HTTP server."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from pathlib import Path

from rich.console import Console


ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"
GOLDEN = Path(__file__).parent / "golden"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
    "GIT_CONFIG_GLOBAL": "/dev/null",
}


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV}
    done = subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def load_env(name: str, root: Path = ROOT):
    from infra.config import load_environment

    return load_environment(name, root / "environments")


def console() -> Console:
    return Console(file=io.StringIO(), width=200, force_terminal=False, color_system=None, soft_wrap=True)


def output(con: Console) -> str:
    return con.file.getvalue()


def make_repo(path: Path, synthesized: Path | None = None) -> Path:
    """A deployment repository on main, pushed to a local bare repository as its `origin` (no network)."""
    path.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / ".gitignore", path / ".gitignore")
    shutil.copytree(ROOT / "environments", path / "environments")
    (path / "README.md").write_text("deployment repository used by a test\n")
    # What the deploy's cluster-side steps read: the k8s/ program and the image's build inputs.
    shutil.copytree(ROOT / "k8s", path / "k8s", ignore=shutil.ignore_patterns("__pycache__"))
    from infra.image import build_inputs

    for source in build_inputs(ROOT):
        (path / source.relative_to(ROOT)).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, path / source.relative_to(ROOT))
    git(path, "init", "-q", "-b", "main")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "initial")
    remote = path.with_name(path.name + "-origin.git")
    git(path.parent, "init", "-q", "--bare", "-b", "main", str(remote))
    git(path, "remote", "add", "origin", str(remote))
    git(path, "push", "-q", "origin", "main")
    if synthesized is not None:
        shutil.copytree(synthesized, path / "cdktf.out")  # git-ignored, like the real one
    return path


def copy_project(dst):
    """The project's files (tracked and new, not ignored) in a fresh git repository on main."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    for name in listed:
        source = ROOT / name
        if source.is_file() and not name.startswith("tests/"):
            (dst / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dst / name)
    git(dst, "init", "-q", "-b", "main")
    git(dst, "add", "-A")
    git(dst, "commit", "-q", "-m", "base")
    return dst



def closed_port() -> int:
    """A loopback port nobody listens on (connections to it are refused)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
