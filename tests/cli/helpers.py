"""Helpers shared by the CLI tests: paths, git in a temporary repository, environments, a captured console."""

from __future__ import annotations

import io
import os
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
    return Console(file=io.StringIO(), width=200, force_terminal=False, color_system=None)


def output(con: Console) -> str:
    return con.file.getvalue()
