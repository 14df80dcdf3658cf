"""`invoke destroy ENV` for GCP environments: the deploy's steps in reverse, behind more confirmation.

destroy: validate → synth → init → plan → show summary → confirm → read outputs → cluster credentials →
cluster side (`pulumi destroy` while the cluster answers, then the stack's state) → apply (the saved
destroy plan). Protected environments need `--force`, and deletion protection must be lifted first (the
error says how). The state bucket is kept.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from infra import deploy_cluster
from infra.config import ROOT, Environment
from infra.deploy import Clients, Run, confirm, require_answerable, step_apply, step_plan, step_summary, step_synth
from infra.deploy_checks import protection_message
from infra.errors import UserError
from infra.steps import Steps, make_console

DESTROY_STEPS = (
    "validate", "synth", "init", "plan", "show summary", "confirm",
    "read outputs", "cluster credentials", "cluster side", "apply",
)


def step_destroy_outputs(run: Run) -> str:
    """Destroy reads outputs too, but an environment whose apply never finished may have none."""
    outputs = run.tf.output_json(run.stack.stack_dir)
    if outputs is None:
        return "would read the stack's outputs (dry run)"
    run.outputs = outputs
    return f"cluster {outputs['cluster_name']}" if "cluster_name" in outputs else "no cluster in the terraform state"


def destroy(
    env: Environment,
    *,
    yes: bool = False,
    dry_run: bool = False,
    force: bool = False,
    root: Path = ROOT,
    clients: Clients | None = None,
    console: Console | None = None,
) -> int:
    console = console or make_console()
    if env.protected and not force:
        hint = protection_message(env)
        raise UserError(
            f"{env.name} is protected: destroying it needs --force" + (f"; and {hint}" if hint else "")
        )
    require_answerable(env, "destroy", yes, dry_run)
    run = Run(env, root, dry_run, console, clients or Clients())
    steps = Steps(console, f"destroy {env.name}" + (" (dry run: nothing is changed)" if dry_run else ""), DESTROY_STEPS)

    def validate() -> str:
        if env.gcp is None:
            raise UserError(f"environment {env.name} has runtime {env.runtime}: it has no GCP infrastructure")
        hint = protection_message(env)
        if env.gke.deletion_protection or env.database.deletion_protection:
            raise UserError(f"cannot destroy {env.name}: {hint}")
        return "deletion protection is off" + (f"; note: {hint}" if hint else "")

    steps.run("validate", validate)
    steps.run("synth", lambda: step_synth(run))
    steps.run("init", lambda: (run.tf.init(run.stack.stack_dir), f"state in gs://{env.gcp.state_bucket}")[1])
    steps.run("plan", lambda: step_plan(run, None, destroy=True))
    steps.run("show summary", lambda: step_summary(run))
    steps.run("confirm", lambda: confirm(run, "destroy", yes=yes), interactive=True)
    # The cluster side goes first, while the cluster still answers (see deploy_cluster.step_destroy).
    steps.run("read outputs", lambda: step_destroy_outputs(run))
    if dry_run or "cluster_name" in run.outputs:
        steps.run("cluster credentials", lambda: deploy_cluster.step_credentials(run))
        steps.run("cluster side", lambda: deploy_cluster.step_destroy(run))
    else:
        steps.skip("cluster credentials", "no cluster in the terraform state")
        steps.skip("cluster side", "no cluster in the terraform state")
    steps.run("apply", lambda: step_apply(run, "destroyed (the state bucket is kept)"))
    steps.finish()
    return 0
