"""The only way the toolkit runs terraform (or OpenTofu) and pulumi.

Every external command goes through `Runner.run`, so one place decides how it is shown, that a dry run
prints it with its working directory and runs nothing, and that a failed command's output reaches the
operator instead of being swallowed.

    tf = TerraformRunner(console, dry_run=False)
    code = tf.plan(stack_dir, plan_file)          # 0 no changes, 2 changes (terraform's -detailed-exitcode)
    plan = tf.show_json(stack_dir, plan_file)     # terraform's JSON plan format, as a dict
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from rich.console import Console
from rich.markup import escape

from platform_schema import shown_path
from infra.errors import UserError

# Terraform says this when the state moved since a saved plan was made (it then refuses to apply it).
STALE_PLAN_MARKERS = ("Saved plan is stale", "saved plan is stale")


class CommandFailed(UserError):
    """An external command exited with an unexpected code; its output was already shown."""

    def __init__(self, message: str, output: str, exit_code: int = 1):
        super().__init__(message, exit_code=exit_code)
        self.output = output


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str
    dry_run: bool = False


# One helper for showing paths (also used by the environment model and the pipeline factory).
display_path = shown_path


class Runner:
    """Runs one tool; `dry_run` prints `$ command   (in cwd)` and runs nothing."""

    tool = "tool"
    env_var = "TOOL_BIN"
    install_hint = ""

    def __init__(self, console: Console | None = None, *, dry_run: bool = False, env: dict[str, str] | None = None):
        self.console = console or Console(stderr=True, soft_wrap=True)
        self.dry_run = dry_run
        self.env = env or {}

    def binary(self) -> str:
        """The tool from $<TOOL>_BIN, else from PATH; a dry run does not need it installed."""
        configured = os.environ.get(self.env_var)
        if configured:
            found = shutil.which(configured)
            if found:
                return found
            if not self.dry_run:
                raise UserError(f"{self.env_var}={configured} is not an executable file")
            return configured
        found = shutil.which(self.tool)
        if found:
            return found
        if self.dry_run:
            return self.tool
        raise UserError(f"{self.tool} is not on PATH: {self.install_hint}")

    def run(
        self,
        args: Sequence[str],
        cwd: Path,
        *,
        ok_codes: Sequence[int] = (0,),
        stream: bool = False,
        quiet: bool = False,
        extra_env: dict[str, str] | None = None,
    ) -> Result:
        """Run `tool args` in `cwd`. `stream` echoes output as it comes (apply, pulumi up).

        Exit codes outside `ok_codes` raise CommandFailed after printing the command's output.
        """
        argv = [self.binary(), *args]
        shown = " ".join([self.tool, *args])
        if self.dry_run:
            self.console.print(f"  [bold]$ {escape(shown)}[/]   [dim](in {escape(display_path(cwd))})[/]", highlight=False)
            return Result(0, "", "", dry_run=True)
        if not quiet:
            self.console.print(f"  [dim]$ {escape(shown)}   (in {escape(display_path(cwd))})[/]", highlight=False)
        env = {**os.environ, **self.env, **(extra_env or {})}
        if stream:
            code, stdout, stderr = self._stream(argv, cwd, env)
        else:
            proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
            code, stdout, stderr = proc.returncode, proc.stdout, proc.stderr
        if code not in ok_codes:
            output = (stdout + ("\n" if stdout and stderr else "") + stderr).rstrip()
            if not stream and output:
                self.console.print(escape(output), highlight=False, markup=True)
            raise CommandFailed(f"`{shown}` failed with exit code {code} (in {display_path(cwd)})", output)
        return Result(code, stdout, stderr)

    def _stream(self, argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str, str]:
        # One merged stream keeps terraform's errors next to the lines that led to them.
        lines: list[str] = []
        with subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL
        ) as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.append(line)
                self.console.print("    " + escape(line.rstrip("\n")), highlight=False)
        return proc.returncode, "".join(lines), ""


class TerraformRunner(Runner):
    """terraform or OpenTofu (`TERRAFORM_BIN=tofu`), never asking questions (CI has no stdin)."""

    tool = "terraform"
    env_var = "TERRAFORM_BIN"
    install_hint = "install Terraform >= 1.5 or OpenTofu, or set TERRAFORM_BIN to its path"

    def __init__(self, console: Console | None = None, *, dry_run: bool = False):
        super().__init__(console, dry_run=dry_run, env={"TF_IN_AUTOMATION": "1", "TF_INPUT": "0"})

    def binary(self) -> str:
        if self.tool == "terraform" and not os.environ.get(self.env_var) and not shutil.which("terraform"):
            tofu = shutil.which("tofu")
            if tofu:
                return tofu
        return super().binary()

    def init(self, stack_dir: Path) -> Result:
        return self.run(["init", "-input=false", "-no-color"], stack_dir)

    def plan(self, stack_dir: Path, plan_file: Path, *, destroy: bool = False, lock: bool = True) -> int:
        """0 = no changes, 2 = changes; any other exit code raises with terraform's output shown.

        `lock=False` is for plans that are only shown (`invoke plan`, the PR workflow's read-only
        credentials): a plan never writes state, but the GCS backend's lock is an object it would write.
        """
        args = ["plan", "-input=false", "-no-color", "-detailed-exitcode", f"-lock={str(lock).lower()}", f"-out={plan_file}"]
        if destroy:
            args.insert(1, "-destroy")
        result = self.run(args, stack_dir, ok_codes=(0, 2))
        return 2 if result.dry_run else result.code

    def show_json(self, stack_dir: Path, plan_file: Path) -> dict | None:
        result = self.run(["show", "-json", str(plan_file)], stack_dir, quiet=True)
        return None if result.dry_run else _json(result.stdout, "terraform show -json", stack_dir)

    def apply(self, stack_dir: Path, plan_file: Path) -> Result:
        try:
            return self.run(["apply", "-input=false", "-no-color", "-lock=true", str(plan_file)], stack_dir, stream=True)
        except CommandFailed as exc:
            if any(marker in exc.output for marker in STALE_PLAN_MARKERS):
                raise CommandFailed(
                    f"the plan file {display_path(plan_file)} is stale: the state changed since it was made "
                    "(terraform refused it); make a new plan and review it again",
                    exc.output,
                ) from None
            raise

    def output_json(self, stack_dir: Path) -> dict | None:
        result = self.run(["output", "-json"], stack_dir, quiet=True)
        if result.dry_run:
            return None
        raw = _json(result.stdout, "terraform output -json", stack_dir)
        # terraform wraps each output as {"value": ..., "type": ..., "sensitive": ...}
        return {name: item.get("value") if isinstance(item, dict) else item for name, item in raw.items()}


# `pulumi up --exclude`, which the migrations step runs, arrived in pulumi 3.158.0.
PULUMI_MIN_VERSION = (3, 158, 0)


class PulumiRunner(Runner):
    """The pulumi CLI for the cluster-side program in k8s/; never interactive.

    `env` carries what every command of one deploy needs: PULUMI_BACKEND_URL (the environment's state
    bucket; per process, unlike `pulumi login`, which changes the user's current backend for every other
    shell and deploy), PULUMI_PYTHON_CMD (the interpreter running the toolkit), KUBECONFIG and the
    program's inputs file.
    """

    tool = "pulumi"
    env_var = "PULUMI_BIN"
    install_hint = "install the Pulumi CLI (https://www.pulumi.com/docs/install/) or set PULUMI_BIN"

    def __init__(self, console: Console | None = None, *, dry_run: bool = False, env: dict[str, str] | None = None):
        super().__init__(console, dry_run=dry_run, env={"PULUMI_SKIP_UPDATE_CHECK": "true", **(env or {})})

    def require_version(self, program_dir: Path) -> str | None:
        """The CLI's version; one line when it is older than the deploy needs (None in a dry run)."""
        result = self.run(["version"], program_dir, quiet=True)
        if result.dry_run:
            return None
        text = result.stdout.strip()
        found = re.match(r"v?(\d+)\.(\d+)\.(\d+)", text)
        if not found:
            raise UserError(f"`pulumi version` printed {text[:80]!r}, not a version: check PULUMI_BIN or the pulumi on PATH")
        if tuple(int(part) for part in found.groups()) < PULUMI_MIN_VERSION:
            wanted = ".".join(map(str, PULUMI_MIN_VERSION))
            raise UserError(
                f"pulumi {text} is too old: the migrations step needs `pulumi up --exclude` (pulumi {wanted} or later); "
                f"{self.install_hint}"
            )
        return text

    def select_stack(self, program_dir: Path, stack: str, *, secrets_provider: str) -> Result:
        """Select the stack, creating it on the first deploy with its Cloud KMS secrets provider."""
        return self.run(
            ["stack", "select", "--create", "--stack", stack, "--secrets-provider", secrets_provider, "--non-interactive"], program_dir
        )

    def preview(self, program_dir: Path, stack: str) -> Result:
        return self.run(["preview", "--stack", stack, "--diff", "--non-interactive"], program_dir, stream=True)

    def up(self, program_dir: Path, stack: str, *, excludes: Sequence[str] = (), kubeconfig: Path | None = None) -> Result:
        """`pulumi up`; `excludes` are URNs left untouched by this update (created or changed by a later one)."""
        extra = {"KUBECONFIG": str(kubeconfig)} if kubeconfig else None
        args = ["up", "--stack", stack, "--yes", "--non-interactive", "--skip-preview"]
        for urn in excludes:
            args += ["--exclude", urn]
        return self.run(args, program_dir, stream=True, extra_env=extra)

    def stack_names(self, program_dir: Path) -> list[str] | None:
        """The program's stacks in the current backend (None in a dry run)."""
        result = self.run(["stack", "ls", "--json"], program_dir, quiet=True)
        if result.dry_run:
            return None
        try:
            return [stack["name"] for stack in json.loads(result.stdout or "[]")]
        except (json.JSONDecodeError, TypeError, KeyError):
            raise UserError(f"`pulumi stack ls --json` printed no list of stacks (in {display_path(program_dir)}): run it there by hand to see why") from None

    def destroy(self, program_dir: Path, stack: str, *, kubeconfig: Path | None = None) -> Result:
        extra = {"KUBECONFIG": str(kubeconfig)} if kubeconfig else None
        return self.run(["destroy", "--stack", stack, "--yes", "--non-interactive", "--skip-preview"], program_dir, stream=True, extra_env=extra)

    def remove_stack(self, program_dir: Path, stack: str) -> Result:
        """Delete the (empty) stack's state and history from the backend."""
        return self.run(["stack", "rm", stack, "--yes", "--non-interactive"], program_dir)

    def stack_outputs(self, program_dir: Path, stack: str) -> dict | None:
        result = self.run(["stack", "output", "--json", "--stack", stack], program_dir, quiet=True)
        return None if result.dry_run else _json(result.stdout, "pulumi stack output --json", program_dir)


def _json(text: str, what: str, cwd: Path) -> dict:
    """The JSON object a command printed; one line naming the command when it printed nothing or something else."""
    where = f"in {display_path(cwd)}"
    if not text.strip():
        raise UserError(f"`{what}` printed nothing where JSON was expected ({where}): run it there by hand to see why")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(
            f"`{what}` printed something that is not JSON ({exc.msg} at line {exc.lineno}, {where}): run it there by hand to see why"
        ) from None
    if not isinstance(data, dict):
        raise UserError(f"`{what}` printed JSON that is not an object ({where}): run it there by hand to see why")
    return data
