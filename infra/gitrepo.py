"""The git questions the CLI asks: is the tree clean, is HEAD on the remote's main, which commit is the merge base.

Protected environments deploy only reviewed, merged code: HEAD must be contained in the remote's main
as fetched just now (a local `main` may hold unpushed commits). The offline plan compares with another
commit. The working tree is never changed here; `fetch_main` updates only the remote-tracking ref
(and infra.offline_diff adds temporary worktrees).
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from infra.errors import UserError

REMOTE = "origin"
REMOTE_MAIN = f"refs/remotes/{REMOTE}/main"
MAIN_REFS = ("main", "origin/main", REMOTE_MAIN)
FETCH_TIMEOUT = 60  # seconds; an unreachable host must not hang a deploy


def git(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    try:
        proc = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise UserError("git is not installed; it is needed to check what is being deployed") from None
    if check and proc.returncode != 0:
        raise UserError(f"`git {' '.join(args)}` failed in {root}: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def is_repository(root: Path) -> bool:
    return git(root, "rev-parse", "--is-inside-work-tree", check=False).returncode == 0


@dataclass(frozen=True)
class Dirt:
    """What makes a tree unreviewed: changes to tracked files, and untracked (not ignored) files."""

    changed: list[str]
    untracked: list[str]

    def __bool__(self) -> bool:
        return bool(self.changed or self.untracked)


def dirty_files(root: Path) -> Dirt:
    out = git(root, "status", "--porcelain", "--untracked-files=all").stdout
    lines = [line for line in out.splitlines() if line.strip()]
    return Dirt(
        changed=[line[3:] for line in lines if not line.startswith("??")],
        untracked=[line[3:] for line in lines if line.startswith("??")],
    )


def fetch_main(root: Path) -> str | None:
    """Fetch the remote's main into its remote-tracking ref; None when it worked, else why it did not."""
    if git(root, "remote", "get-url", REMOTE, check=False).returncode != 0:
        return f"this clone has no remote {REMOTE!r}"
    command = ["git", "fetch", "--quiet", "--no-tags", REMOTE, f"+refs/heads/main:{REMOTE_MAIN}"]
    try:
        proc = subprocess.run(
            command, cwd=root, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=FETCH_TIMEOUT,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},  # never wait for a password nobody types
        )
    except subprocess.TimeoutExpired:
        return f"`git fetch {REMOTE} main` got no answer within {FETCH_TIMEOUT} s"
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines() or ["no output"]
        return f"`git fetch {REMOTE} main` failed: {lines[-1]}"
    return None


def head_commit(root: Path) -> str:
    return git(root, "rev-parse", "HEAD").stdout.strip()


def resolve(root: Path, ref: str) -> str | None:
    proc = git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
    return proc.stdout.strip() if proc.returncode == 0 else None


def main_ref(root: Path) -> str | None:
    for ref in MAIN_REFS:
        if resolve(root, ref):
            return ref
    return None


def head_in(root: Path, ref: str) -> bool:
    """True when HEAD is contained in `ref` (a tag on main qualifies: its commit is in main's history)."""
    if not resolve(root, ref):
        return False
    return git(root, "merge-base", "--is-ancestor", "HEAD", ref, check=False).returncode == 0


def merge_base_with_main(root: Path) -> str:
    ref = main_ref(root)
    if ref is None:
        raise UserError("no branch `main` (or origin/main) in this clone to take the merge base with: pass --base REF")
    proc = git(root, "merge-base", "HEAD", ref, check=False)
    if proc.returncode != 0:
        raise UserError(
            f"HEAD has no merge base with {ref} (a shallow clone?): fetch more history (fetch-depth: 0) or pass --base REF"
        )
    return proc.stdout.strip()
