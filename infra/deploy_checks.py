"""The deploy's checks before anything runs: the git state of protected environments, valid Google
credentials, and what protects an environment from being destroyed (each a one-line refusal)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from infra import gitrepo
from infra.config import Environment
from infra.errors import UserError


def _listed(paths: list[str]) -> str:
    return ", ".join(paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")


def check_git_state(env: Environment, root: Path, *, dry_run: bool = False, console: Console | None = None) -> str:
    """Protected environments deploy only committed code that is on the remote's main."""
    if not env.protected:
        return "not protected: git state not checked"
    if not gitrepo.is_repository(root):
        raise UserError(f"{env.name} is protected and {root} is not a git clone: deploy it from a clone of the repository")
    dirt = gitrepo.dirty_files(root)
    if dirt:
        parts = []
        if dirt.changed:
            parts.append(f"changed: {_listed(dirt.changed)} (commit or stash them)")
        if dirt.untracked:
            parts.append(f"untracked: {_listed(dirt.untracked)} (commit them, delete them, or add them to .gitignore)")
        raise UserError(f"{env.name} is protected and the git tree is dirty, {'; '.join(parts)}; then deploy from main")
    head = gitrepo.head_commit(root)[:12]
    problem = gitrepo.fetch_main(root)
    if problem is None:
        if not gitrepo.head_in(root, gitrepo.REMOTE_MAIN):
            raise UserError(
                f"{env.name} is protected and HEAD ({head}) is not contained in {gitrepo.REMOTE}/main (fetched just now): "
                "push it and merge it, then deploy the merged commit (a tag on main is fine)"
            )
        return f"clean tree, HEAD {head} is on main at {gitrepo.REMOTE} (fetched just now)"
    if not dry_run:
        raise UserError(
            f"{env.name} is protected and {gitrepo.REMOTE}/main could not be fetched ({problem}): "
            f"deploy from a clone whose remote {gitrepo.REMOTE!r} is reachable, so HEAD is checked against the pushed main"
        )
    if console is not None:
        console.print(
            f"  [yellow]warning: {problem}: HEAD is checked against the local main only; "
            f"a real deploy of {env.name} is refused until {gitrepo.REMOTE}/main can be fetched[/]",
            highlight=False,
        )
    if not gitrepo.head_in(root, "refs/heads/main"):
        raise UserError(
            f"{env.name} is protected and HEAD ({head}) is not contained in main: deploy a merged commit (a tag on main is fine)"
        )
    return f"clean tree, HEAD {head} is on main (the local one: dry run without a reachable remote)"


def check_credentials(run) -> str:
    """Missing or expired Google credentials fail here, at once, not after minutes of synthesis and policy."""
    from infra.gke import access_token

    access_token(run.clients.creds())
    return "Google credentials valid"


def protection_message(env: Environment) -> str:
    where = f"environments/{env.name}.yaml"
    protected = [key for key, on in (("gke.deletion_protection", env.gke.deletion_protection), ("database.deletion_protection", env.database.deletion_protection)) if on]
    lines = []
    if protected:
        lines.append(
            f"deletion protection is on ({', '.join(protected)} in {where}): to lift it, set "
            f"{' and '.join(k + ': false' for k in protected)}, run `invoke deploy {env.name}` (that applies only this change), "
            f"then destroy again"
        )
    if env.logging.archive.retention_locked:
        lines.append("the log archive bucket has a locked retention policy: it can only be deleted once its objects have aged out")
    return "; ".join(lines)
