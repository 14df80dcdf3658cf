"""`invoke deploy ENV` for GCP environments: one boring, step-by-step sequence.

deploy: validate → synth → policy gate → init → plan → show summary → confirm → apply (the saved plan
file) → read outputs → secrets → image → cluster credentials → render cluster side → pulumi preview →
migrations → pulumi up → bootstrap → wait for health (the cluster-side steps are in deploy_cluster.py).
`invoke destroy ENV` is in destroy.py.
Every step is shown with its duration; a failing step stops the sequence with the failing command's
output on screen. `--dry-run` runs every check (configuration, git state, synthesis, policy) and prints
each command with its working directory instead of running it.

Protected environments (`protected: true`) deploy only a clean tree whose HEAD is contained in the
remote's main as fetched at deploy time (a dry run without a reachable remote warns and checks the
local main), after the environment's name is typed (or `--yes`); `--plan-file` applies exactly a reviewed plan and
is refused when stale. Destroying one needs `--force`, and deletion protection must be lifted first.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from infra import deploy_cluster, naming, secret_values
from infra.deploy_checks import check_credentials, check_git_state
from infra.config import ROOT, Environment
from infra.errors import UserError
from infra.plan import Stack, check_plan_fresh, synthesize, write_plan_meta
from infra.plan_report import from_terraform_plan, render_text
from infra.runner import TerraformRunner, display_path
from infra.steps import Steps, make_console

DEPLOY_STEPS = (
    "validate",
    "synth",
    "policy gate",
    "init",
    "plan",
    "show summary",
    "confirm",
    "apply",
    "read outputs",
    "secrets",
    "image",
    "cluster credentials",
    "render cluster side",
    "pulumi preview",
    "migrations",
    "pulumi up",
    "bootstrap",
    "wait for health",
)


@dataclass
class Clients:
    """The GCP adapters; built lazily with application default credentials unless a test passes its own.

    `bootstrap` (infra.bootstrap.bootstrap_gke's signature) and `api_server` (infra.kube.api_server's: a
    context manager yielding the API server's local URL) are loaded lazily when not given.
    """

    credentials: Any = None
    cluster_api: Any = None
    buckets: Any = None
    secrets: Any = None
    key_rings: Any = None
    image: Any = None  # infra.image.ImageClients
    bootstrap: Any = None
    api_server: Any = None

    def creds(self):
        if self.credentials is None:
            from infra.gke import default_credentials

            self.credentials = default_credentials()
        return self.credentials

    def get_cluster_api(self):
        if self.cluster_api is None:
            from infra.gke import GoogleClusterApi

            self.cluster_api = GoogleClusterApi(self.creds())
        return self.cluster_api

    def get_buckets(self):
        if self.buckets is None:
            from infra.gcp_apis import StateBucketApi

            self.buckets = StateBucketApi(self.creds())
        return self.buckets

    def get_secrets(self):
        if self.secrets is None:
            from infra.gcp_apis import SecretVersionsApi

            self.secrets = SecretVersionsApi(self.creds())
        return self.secrets

    def get_key_rings(self):
        if self.key_rings is None:
            from infra.gcp_apis import KeyRingApi

            self.key_rings = KeyRingApi(self.creds())
        return self.key_rings

    def get_image(self):
        if self.image is None:
            from infra.gcp_apis import ArtifactRegistryApi, UploadApi
            from infra.image import ImageClients

            self.image = ImageClients(registry=ArtifactRegistryApi(self.creds()), uploads=UploadApi(self.creds()))
        return self.image


@dataclass
class Run:
    """What one deploy/destroy carries from step to step."""

    env: Environment
    root: Path
    dry_run: bool
    console: Console
    clients: Clients
    stack: Stack | None = None
    plan_file: Path | None = None
    has_changes: bool = True
    outputs: dict = field(default_factory=dict)
    kubeconfig: Path | None = None
    manifests: Path | None = None  # build/k8s/<env>/: what the cluster side applies
    objects: list[dict] = field(default_factory=list)  # the rendered chart objects
    cluster_outputs: dict = field(default_factory=dict)  # the k8s/ stack's outputs

    @property
    def tf(self) -> TerraformRunner:
        return TerraformRunner(self.console, dry_run=self.dry_run)

    def output(self, name: str) -> Any:
        return output(self, name)


# --- Checks ----------------------------------------------------------------------------------------


def interactive() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()


def require_answerable(env: Environment, action: str, yes: bool, dry_run: bool) -> None:
    """Fail at once, not after minutes of synthesis, when a confirmation could never be answered."""
    if not yes and not dry_run and not interactive():
        raise UserError(
            f"{action} {env.name} needs a confirmation and there is no terminal to ask on (CI?): "
            f"review the plan, then pass --yes"
        )


def confirm(run: Run, action: str, *, yes: bool) -> str:
    """Typed environment name for protected environments (and every destroy), y/N otherwise."""
    env = run.env
    typed = env.protected or action == "destroy"
    if yes:
        return "answered by --yes"
    if run.dry_run:
        return f"would ask to type {env.name!r}" if typed else "would ask y/N"
    if not interactive():
        require_answerable(env, action, yes, run.dry_run)
    if typed:
        answer = run.console.input(f"Type the environment name ([bold]{env.name}[/]) to {action} it: ").strip()
        if answer != env.name:
            raise UserError(f"confirmation did not match ({answer!r} is not {env.name!r}): nothing was changed")
    else:
        answer = run.console.input(f"{action.capitalize()} {env.name}? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            raise UserError(f"{action} of {env.name} cancelled: nothing was changed")
    return "confirmed"


# --- Steps -------------------------------------------------------------------------------------------


def step_synth(run: Run, plan_file: str | None = None) -> str:
    run.stack = synthesize(run.env, run.root / "cdktf.out")
    if not plan_file:
        return f"{display_path(run.stack.json_path)}"
    # A reviewed plan is checked against the configuration at once, before the policy gate and terraform.
    run.plan_file = Path(plan_file).resolve()
    check_plan_fresh(run.stack, run.plan_file)
    return f"{display_path(run.stack.json_path)}; the reviewed plan {display_path(run.plan_file)} matches it"


def step_policy(run: Run) -> str:
    from infra.policy import run_checkov

    result = run_checkov([run.stack.json_path])
    (stack,) = result.stacks
    counts = f"{stack.passed} passed, {stack.failed} failed, {stack.skipped} skipped"
    if not result.ok:
        for finding in stack.failures:
            run.console.print(f"  ✗ {finding.check_id} {finding.resource}: {finding.name}", highlight=False, markup=False)
        for problem in stack.problems:
            run.console.print(f"  ✗ {problem}", highlight=False, markup=False)
        raise UserError(f"policy gate failed for {run.env.name} ({counts}): fix the findings above or skip a check with its reason in .checkov.yaml")
    return counts


def step_init(run: Run) -> str:
    gcp = run.env.gcp
    bucket = gcp.state_bucket
    note = f"state in gs://{bucket}"
    if run.dry_run:
        run.console.print(f"  would check that gs://{bucket} exists and create it in {gcp.project_id} if missing", highlight=False)
    else:
        api = run.clients.get_buckets()
        if not api.exists(bucket):
            from infra import naming

            api.create(bucket, project=gcp.project_id, location=gcp.region, labels=naming.labels(run.env))
            run.console.print(f"  created the state bucket gs://{bucket} (first deploy of {run.env.name})", highlight=False)
            note = f"created state bucket gs://{bucket}"
    run.tf.init(run.stack.stack_dir)
    return f"would init; {note}; {key_ring(run)}" if run.dry_run else f"{note}; {key_ring(run)}"


def key_ring(run: Run) -> str:
    """The project's key ring of Pulumi secrets keys: created here, never by a stack (key rings cannot be deleted)."""
    from infra import naming

    ring = naming.pulumi_key_ring(run.env)
    if run.dry_run:
        run.console.print(f"  would check that key ring {ring} exists and create it if missing", highlight=False)
        return f"key ring {naming.PULUMI_KEY_RING}"
    if run.clients.get_key_rings().ensure(ring):
        run.console.print(f"  created the key ring {ring} (first deploy in {run.env.gcp.project_id})", highlight=False)
        return f"created key ring {naming.PULUMI_KEY_RING}"
    return f"key ring {naming.PULUMI_KEY_RING}"


def step_plan(run: Run, plan_file: str | None, *, destroy: bool = False) -> str:
    if plan_file:  # checked against the configuration by step_synth
        return f"using the reviewed plan {display_path(run.plan_file)} (configuration unchanged since)"
    run.plan_file = run.stack.plan_file
    run.plan_file.parent.mkdir(parents=True, exist_ok=True)
    code = run.tf.plan(run.stack.stack_dir, run.plan_file, destroy=destroy, lock=True)  # deploys always lock
    run.has_changes = code == 2
    if run.dry_run:
        return f"would save {display_path(run.plan_file)}"
    write_plan_meta(run.stack, run.plan_file, run.root)
    return f"saved {display_path(run.plan_file)}"


def step_summary(run: Run) -> str:
    plan_json = run.tf.show_json(run.stack.stack_dir, run.plan_file)
    if plan_json is None:
        return "would show the saved plan's summary (dry run: no plan was made)"
    report = from_terraform_plan(plan_json, run.env.name, f"terraform plan {display_path(run.plan_file)}")
    # Whether to apply comes from terraform's exit code (step_plan), not from this report: a plan that
    # changes only outputs lists no resource but must still be applied, or the new output never exists.
    run.console.print(render_text(report), highlight=False, markup=False)
    outputs = changed_outputs(plan_json)
    if outputs and not report.has_changes:
        return f"no resource changes; outputs change: {', '.join(outputs)}"
    return report.summary() + (f"; outputs change: {', '.join(outputs)}" if outputs else "")


def changed_outputs(plan_json: dict) -> list[str]:
    changes = plan_json.get("output_changes") or {}
    return sorted(name for name, change in changes.items() if change.get("actions") not in (None, ["no-op"]))


def step_apply(run: Run, done: str) -> str:
    run.tf.apply(run.stack.stack_dir, run.plan_file)
    return f"would apply {display_path(run.plan_file)}" if run.dry_run else f"{done}: {display_path(run.plan_file)}"


def step_outputs(run: Run) -> str:
    outputs = run.tf.output_json(run.stack.stack_dir)
    if outputs is None:
        return "would read the stack's outputs (dry run: nothing applied)"
    run.outputs = outputs
    return f"cluster {output(run, 'cluster_name')} in {output(run, 'cluster_location')}, database {outputs.get('sql_instance_name')}"


def output(run: Run, name: str) -> Any:
    """A terraform output the next steps need; missing means the configuration that adds it was never applied."""
    if name not in run.outputs:
        raise UserError(
            f"terraform output {name!r} is missing from the state of {run.env.name} "
            f"(`terraform output -json` in {display_path(run.stack.stack_dir)}): "
            f"run `invoke deploy {run.env.name}` to apply the configuration that adds it"
        )
    return run.outputs[name]


def step_secrets(run: Run) -> str:
    if run.dry_run:
        run.console.print("  would add a generated version to each Airflow secret that has none (values never shown)", highlight=False)
        return "would check (dry run)"
    api, project = run.clients.get_secrets(), output(run, "project_id")
    created, present = [], []
    for key, secret_id in sorted(output(run, "secret_ids").items()):
        if api.has_enabled_version(project, secret_id):
            present.append(key)
        elif key in secret_values.GENERATORS:
            # Generated on the first deploy, never printed.
            api.add_version(project, secret_id, secret_values.generate(key).encode())
            created.append(key)
        else:
            raise UserError(f"secret {secret_id} has no value and the toolkit cannot generate one: add a version to it")
    # The sign-in client is made by a person in the console, never generated: say so here, not as a
    # traceback from inside the Pulumi program minutes later.
    oauth = (naming.oauth_client_id_secret(run.env), naming.oauth_client_secret_secret(run.env))
    missing = [secret_id for secret_id in oauth if not api.has_enabled_version(project, secret_id)]
    if missing:
        raise UserError(
            f"the Google sign-in client of {run.env.name} is not in Secret Manager ({', '.join(missing)} has no version): "
            f"create the OAuth client (README, Google sign-in), then `gcloud secrets versions add {missing[0]} "
            f"--project {project} --data-file=-`"
        )
    present.append("oauth client")
    parts = ([f"generated {', '.join(created)}"] if created else []) + ([f"already set: {', '.join(present)}"] if present else [])
    return "; ".join(parts)


# --- Commands ------------------------------------------------------------------------------------------


def deploy(
    env: Environment,
    *,
    yes: bool = False,
    dry_run: bool = False,
    plan_file: str | None = None,
    skip_k8s: bool = False,
    root: Path = ROOT,
    clients: Clients | None = None,
    console: Console | None = None,
) -> int:
    console = console or make_console()
    require_answerable(env, "deploy", yes, dry_run)
    run = Run(env, root, dry_run, console, clients or Clients())
    steps = Steps(console, f"deploy {env.name}" + (" (dry run: nothing is changed)" if dry_run else ""), DEPLOY_STEPS)

    def validate() -> str:
        if env.gcp is None:
            raise UserError(f"environment {env.name} has runtime {env.runtime}: nothing to deploy to GCP")
        git_state = check_git_state(env, root, dry_run=dry_run, console=console)
        return git_state if dry_run else f"{git_state}; {check_credentials(run)}"

    steps.run("validate", validate)
    steps.run("synth", lambda: step_synth(run, plan_file))
    steps.run("policy gate", lambda: step_policy(run))
    steps.run("init", lambda: step_init(run))
    steps.run("plan", lambda: step_plan(run, plan_file))
    steps.run("show summary", lambda: step_summary(run))
    if not dry_run and not run.has_changes:
        steps.skip("confirm", "no infrastructure changes")
        steps.skip("apply", "no infrastructure changes")
    else:
        steps.run("confirm", lambda: confirm(run, "deploy", yes=yes), interactive=True)
        steps.run("apply", lambda: step_apply(run, "applied"))
    steps.run("read outputs", lambda: step_outputs(run))
    steps.run("secrets", lambda: step_secrets(run))
    steps.run("image", lambda: deploy_cluster.step_image(run))
    steps.run("cluster credentials", lambda: deploy_cluster.step_credentials(run))
    steps.run("render cluster side", lambda: deploy_cluster.step_render(run, skip_k8s))
    steps.run("pulumi preview", lambda: deploy_cluster.step_preview(run, skip_k8s))
    steps.run("migrations", lambda: deploy_cluster.step_migrations(run, skip_k8s))
    steps.run("pulumi up", lambda: deploy_cluster.step_up(run, skip_k8s))
    steps.run("bootstrap", lambda: deploy_cluster.step_bootstrap(run, skip_k8s))
    steps.run("wait for health", lambda: deploy_cluster.step_health(run, skip_k8s))
    steps.finish()
    return 0
