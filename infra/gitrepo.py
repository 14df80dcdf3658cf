"""The git questions the CLI asks: is the tree clean, is HEAD on main, which commit is the merge base.

Protected environments deploy only reviewed, merged code; the offline plan compares with another
commit. Git is read here, never changed (apart from temporary worktrees in infra.offline_diff).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from infra.errors import UserError

MAIN_REFS = ("main", "origin/main", "refs/remotes/origin/main")


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


def dirty_files(root: Path) -> list[str]:
    """Modified, staged and untracked (not ignored) files: anything that would make the deploy unreviewed."""
    out = git(root, "status", "--porcelain", "--untracked-files=all").stdout
    return [line[3:] for line in out.splitlines() if line.strip()]


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


def head_on_main(root: Path) -> bool:
    """True when HEAD is contained in main (a tag on main qualifies: its commit is in main's history)."""
    head = head_commit(root)
    for ref in MAIN_REFS:
        if resolve(root, ref) and git(root, "merge-base", "--is-ancestor", head, ref, check=False).returncode == 0:
            return True
    return False


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
