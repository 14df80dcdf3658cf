"""The deploy's steps after terraform: image → cluster credentials → render → pulumi preview → migrations
→ pulumi up → bootstrap → wait for health.

The k8s/ program's stack is the environment's name, its state in the environment's state bucket
(PULUMI_BACKEND_URL) and its secrets encrypted with the environment's Cloud KMS key. Migrations come
first and alone: `pulumi up` of the prerequisites and the migration Job only (every other resource
excluded by URN), which returns once the Job completed; then the full `pulumi up` applies the chart,
whose init containers find the database migrated. A dry run prints each command, the ordered list of
what the migrations step applies, and what bootstrap and health would do, and calls no Google API.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from infra import naming
from infra.cluster_resources import INPUTS_ENV, Key, migrations_plan, prerequisites, with_image_tag, write_inputs
from infra.errors import UserError
from infra.runner import PulumiRunner, display_path
from infra.steps import Skipped

PROGRAM = "k8s"


def program_dir(run) -> Path:
    program = run.root / PROGRAM
    if not (program / "Pulumi.yaml").is_file():
        raise UserError(f"{display_path(program / 'Pulumi.yaml')} is missing: deploy from a clone of the toolkit, which holds the k8s/ program")
    return program


def inputs_file(run) -> Path:
    return run.root / "build" / "pulumi" / f"{run.env.name}.json"


def pulumi(run) -> PulumiRunner:
    env = {
        "PULUMI_BACKEND_URL": naming.pulumi_backend_url(run.env),
        "PULUMI_PYTHON_CMD": sys.executable,  # the program imports the toolkit's own packages
        INPUTS_ENV: str(inputs_file(run)),
    }
    return PulumiRunner(run.console, dry_run=run.dry_run, env=env)


def _say(run, text: str) -> None:
    run.console.print(f"  {text}", highlight=False, markup=False)


def step_image(run) -> str:
    """The platform image every pod runs: built (or found) by content tag, unless the environment pins one."""
    from infra import image

    env = run.env
    pinned = env.kubernetes.image
    if pinned.repository or pinned.tag:
        from infra.chart_values import image as chart_image

        return "the environment pins {}:{} (kubernetes.image): nothing to build".format(*chart_image(env))
    if run.dry_run:
        tag = image.content_tag(run.root)
        reference = f"{naming.image_repository(env)}:{tag}"
        _say(run, f"would build {reference} with Cloud Build (or a local Docker engine) and push it, unless that tag exists")
    else:
        reference = image.image(env, root=run.root, clients=run.clients.get_image(), console=run.console)
        tag = reference.rsplit(":", 1)[1]
    run.env = with_image_tag(env, tag)
    return reference


def step_credentials(run) -> str:
    if run.dry_run:
        _say(run, f"would read the cluster's endpoint and CA from the GKE API and write a kubeconfig using {gke_plugin_note()}")
        return "would fetch (dry run)"
    from infra import gke

    project, location, name = (run.output(key) for key in ("project_id", "cluster_location", "cluster_name"))
    cluster, creds = gke.cluster_credentials(run.clients.get_cluster_api(), run.clients.creds(), project, location, name)
    run.kubeconfig = gke.write_kubeconfig(gke.kubeconfig(creds), gke.kubeconfig_file(run.root, run.env.name))
    auth = "a token valid for about an hour (gke-gcloud-auth-plugin not found)" if creds.token else gke.AUTH_PLUGIN
    return f"{cluster.get('status')} {cluster.get('currentMasterVersion')} at {creds.server}; kubeconfig {display_path(run.kubeconfig)} ({auth})"


def gke_plugin_note() -> str:
    from infra.gke import AUTH_PLUGIN

    return AUTH_PLUGIN if shutil.which(AUTH_PLUGIN) else f"an embedded token ({AUTH_PLUGIN} is not on PATH)"


def step_render(run, skip_k8s: bool) -> str:
    """Real `helm template` of the pinned chart, validated and through the manifest policy gate (dry run too: it writes only build/)."""
    if skip_k8s:
        raise Skipped("--skip-k8s")
    from infra.k8s_render import render
    from infra.manifest_policy import require_clean

    result = render(run.env, run.root / "build" / "k8s")
    run.manifests, run.objects = result.folder, result.objects
    verdict = require_clean(run.env, result.folder)
    return (
        f"{len(result.objects)} objects from chart airflow-{run.env.kubernetes.chart.version}, valid for Kubernetes "
        f"{run.env.kubernetes.version}, {verdict}: {display_path(result.folder)}"
    )


def step_preview(run, skip_k8s: bool) -> str:
    if skip_k8s:
        raise Skipped("--skip-k8s")
    program, env = program_dir(run), run.env
    if run.dry_run:
        _say(run, f"would write {display_path(inputs_file(run))}: the Cloud SQL connection name and the image tag (nothing secret)")
    else:
        write_inputs(inputs_file(run), {"sql_connection_name": run.output("sql_connection_name"), "image_tag": env.kubernetes.image.tag})
    _say(run, f"state {naming.pulumi_backend_url(env)}, secrets encrypted with {naming.pulumi_secrets_provider(env)}")
    runner = pulumi(run)
    runner.require_version(program)
    runner.select_stack(program, env.name, secrets_provider=naming.pulumi_secrets_provider(env))
    runner.preview(program, env.name)
    return f"would preview stack {env.name}" if run.dry_run else f"previewed stack {env.name}"


def _shown(key: Key) -> str:
    return f"{key.kind}/{key.name}"


def step_migrations(run, skip_k8s: bool) -> str:
    if skip_k8s:
        raise Skipped("--skip-k8s")
    env = run.env
    plan = migrations_plan(env, run.objects)
    keys = prerequisites(env)
    if run.dry_run:
        _say(run, "would apply, in this order, and wait for the Job to complete:")
        for number, key in enumerate(keys, 1):
            _say(run, f"  {number}. {_shown(key)}")
        _say(run, f"then leave {len(plan.excluded)} objects (the chart's, the UI's) to `pulumi up`")
    pulumi(run).up(program_dir(run), env.name, excludes=plan.excluded, kubeconfig=run.kubeconfig)
    job = naming.migration_job(env)
    if run.dry_run:
        return f"would run Job {job} after {len(keys) - 1} prerequisites"
    return f"Job {job} completed ({len(keys)} resources applied, {len(plan.excluded)} left for pulumi up)"


def step_up(run, skip_k8s: bool) -> str:
    if skip_k8s:
        raise Skipped("--skip-k8s")
    program, env = program_dir(run), run.env
    runner = pulumi(run)
    runner.up(program, env.name, kubeconfig=run.kubeconfig)
    outputs = runner.stack_outputs(program, env.name)
    if outputs is None:
        return f"would apply the stack {env.name}: {len(run.objects)} chart objects after the migrations"
    run.cluster_outputs = outputs
    ui = outputs.get("ui_host")
    return f"stack {env.name} is up in namespace {outputs.get('namespace')}; UI " + (f"at https://{ui}" if ui else "internal only")


def step_bootstrap(run, skip_k8s: bool) -> str:
    if skip_k8s:
        raise Skipped("--skip-k8s")
    from infra.bootstrap import bootstrap_gke, secret_manager_reader

    env = run.env
    bootstrap = run.clients.bootstrap or bootstrap_gke
    if run.dry_run:  # prints the pools, variables and connections it would sync; reads and changes nothing
        return bootstrap(env, kubeconfig=run.kubeconfig, console=run.console, dry_run=True)
    secrets = secret_manager_reader(env, run.clients.get_secrets())
    result = bootstrap(env, kubeconfig=run.kubeconfig, console=run.console, dry_run=False, secrets=secrets)
    return str(result) if result else "bootstrapped"


def step_health(run, skip_k8s: bool) -> str:
    if skip_k8s:
        raise Skipped("--skip-k8s")
    if run.dry_run:
        _say(run, f"would port-forward to Service {naming.API_SERVER_SERVICE}:{naming.API_SERVER_PORT} and wait until "
                  "/api/v2/monitor/health reports every component healthy")
        return "would wait (dry run)"
    from infra.status import wait_healthy

    api_server = run.clients.api_server
    if api_server is None:
        from infra.kube import api_server
    with api_server(run.env, run.kubeconfig) as url:
        return wait_healthy(url, console=run.console)


def step_destroy(run) -> str:
    """`invoke destroy`, before terraform deletes the cluster: `pulumi destroy`, then the stack's state.

    Deleting the Ingress first lets GKE's controller release the load balancer it created (forwarding
    rule, proxies, backends): deleting the cluster under it would leave them billed and orphaned.
    """
    env = run.env  # destroy() calls this only when the terraform state holds a cluster
    program, runner = program_dir(run), pulumi(run)
    names = runner.stack_names(program)
    if names is not None and env.name not in names:
        return f"no pulumi stack {env.name} in {naming.pulumi_backend_url(env)}: nothing on the cluster side"
    runner.run(["stack", "select", "--stack", env.name, "--non-interactive"], program)
    runner.destroy(program, env.name, kubeconfig=run.kubeconfig)
    runner.remove_stack(program, env.name)
    done = f"deleted every object of stack {env.name} and its state in {naming.pulumi_backend_url(env)}"
    return f"would have {done}" if run.dry_run else done
