"""Operator CLI: `invoke --list` is the table of contents; every task is a call into infra/.

Imports stay lazy: loading this file must not import CDK Terrain, Pulumi or GCP clients, so
`invoke --list` answers in well under a second.
"""

from invoke import Collection, task

from infra.invoke_args import optional_positionals

ENV_HELP = "environment: the name of a file in environments/ (local, dev, qa, prod)"


@task(
    klass=optional_positionals("env"),
    positional=["env"],
    help={"env": ENV_HELP + "; omit with --all", "all": "synthesize every GCP environment (runtime: gke)"},
)
def synth(c, env=None, all=False):  # noqa: A002 - `--all` is the flag users type
    """Synthesize Terraform JSON for GCP environments into cdktf.out/stacks/<env>/."""
    from infra import cli

    cli.guarded(cli.synth, env or None, all_envs=all)


@task(klass=optional_positionals("env"), positional=["env"], help={"env": ENV_HELP + "; default: every GCP environment"})
def policy(c, env=None):
    """Run the checkov policy gate over the synthesized stacks and rendered manifests (0 failed checks to pass)."""
    from infra import cli

    cli.guarded(cli.policy, env or None)


@task(
    help={
        "env": ENV_HELP,
        "format": "text (default), markdown (for a PR comment) or json",
        "out": "also write the report to this file",
        "offline": "no credentials, no terraform: diff the synthesized working tree against --base",
        "base": "git ref to compare with when --offline (default: merge base with main)",
    }
)
def plan(c, env, format="text", out=None, offline=False, base=None):  # noqa: A002
    """Show what a deploy of ENV would change; exit 0 = no changes, 2 = changes, 1 = error."""
    from infra import cli

    cli.guarded(cli.plan, env, fmt=format, out=out, offline=offline, base=base)


@task(
    help={
        "env": ENV_HELP,
        "yes": "answer confirmations (needed without a terminal, e.g. in CI)",
        "dry_run": "run every check and print each command it would run; change nothing",
        "plan_file": "apply exactly this reviewed plan (refused if stale)",
        "skip_k8s": "stop after the infrastructure; do not touch the cluster",
    }
)
def deploy(c, env, yes=False, dry_run=False, plan_file=None, skip_k8s=False):
    """Deploy ENV end to end: infrastructure, cluster, Airflow; or the local platform for `local`."""
    from infra import cli

    cli.guarded(cli.deploy, env, yes=yes, dry_run=dry_run, plan_file=plan_file, skip_k8s=skip_k8s)


@task(
    help={
        "env": ENV_HELP,
        "yes": "answer the typed confirmation",
        "dry_run": "print what would be destroyed and the commands; change nothing",
        "force": "allow destroying a protected environment",
        "purge": "local only: also delete data (database, logs)",
    }
)
def destroy(c, env, yes=False, dry_run=False, force=False, purge=False):
    """Tear ENV down (protected environments need --force); `local` stops every process."""
    from infra import cli

    cli.guarded(cli.destroy, env, yes=yes, dry_run=dry_run, force=force, purge=purge)


@task(help={"env": ENV_HELP})
def status(c, env):
    """Health of ENV in one table; exit code is non-zero when anything is unhealthy."""
    from infra import cli

    cli.guarded(cli.status, env)


@task(
    help={
        "env": ENV_HELP,
        "api_url": "local only: Airflow API base URL (default: the local API server); GKE goes through the cluster",
        "dry_run": "read what exists and print what would be created or updated; change nothing",
        "no_wait": "do not wait for the first canary run",
    }
)
def bootstrap(c, env, api_url=None, dry_run=False, no_wait=False):
    """Create ENV's declared pools, variables and connections through the REST API; idempotent."""
    from infra import cli

    cli.guarded(cli.bootstrap, env, api_url=api_url, dry_run=dry_run, wait=not no_wait)


@task(help={"env": ENV_HELP, "dry_run": "compute the tag, check the registry and say what would be built; build nothing"})
def image(c, env, dry_run=False):
    """Build and push ENV's platform image, tagged by content hash; an existing tag is not rebuilt."""
    from infra import cli

    cli.guarded(cli.image, env, dry_run=dry_run)


@task(
    klass=optional_positionals("component"),
    positional=["env", "component"],
    help={
        "env": ENV_HELP,
        "component": "api-server, scheduler, dag-processor, triggerer, s3, gcs, postgres or supervisor (default: all)",
        "follow": "keep printing new lines",
        "task": "DAG/RUN/TASK: print that task's log from the task-logs bucket (any environment)",
    },
)
def logs(c, env, component=None, follow=False, task=None):
    """Show the logs of the local platform's components, or one task's log from its bucket."""
    from infra import cli

    cli.guarded(cli.logs, env, component=component or None, follow=follow, task=task or None)


@task(
    name="validate",
    klass=optional_positionals("path"),
    positional=["path"],
    help={"path": "folder of pipeline YAML and DAG files (default: the project's dags/)"},
)
def dags_validate(c, path=None):
    """Validate pipeline YAML and import every DAG; one `file:line:col: message` per problem."""
    from infra import cli

    cli.guarded(cli.dags_validate, path or None)


@task(name="graph", help={"pipeline": "pipeline name or path to its YAML", "out": "output .svg path (default build/graphs/<name>.svg; a .mmd is written beside it)"})
def dags_graph(c, pipeline, out=None):
    """Draw a pipeline's table dependency graph as SVG and Mermaid text."""
    from infra import cli

    cli.guarded(cli.dags_graph, pipeline, out=out)


@task(name="values", help={"env": ENV_HELP})
def k8s_values(c, env):
    """Print the official chart's values for ENV (the builder's chart renderer)."""
    from infra import cli

    cli.guarded(cli.k8s_values, env)


@task(
    name="render",
    klass=optional_positionals("env"),
    positional=["env"],
    help={"env": ENV_HELP + "; default: every GCP environment", "out": "folder to write into (default: build/k8s)"},
)
def k8s_render(c, env=None, out=None):
    """Render ENV's manifests with helm and the pinned chart into build/k8s/<env>/, validated."""
    from infra import cli

    cli.guarded(cli.k8s_render, env or None, outdir=out)


@task(
    name="diff",
    help={
        "env": ENV_HELP,
        "format": "text (default), markdown (for a PR comment) or json",
        "out": "also write the report to this file",
        "base": "git ref to compare with (default: merge base with main)",
    },
)
def k8s_diff(c, env, format="text", out=None, base=None):  # noqa: A002
    """Diff ENV's rendered manifests against --base, object by object; exit 2 = changes."""
    from infra import cli

    cli.guarded(cli.k8s_diff, env, fmt=format, out=out, base=base)



@task(
    positional=["env"],
    help={
        "env": ENV_HELP,
        "dag": "one DAG: show its tasks instead of every DAG",
        "days": "window: DAG runs whose run_after falls in the last N days (default 30)",
        "format": "table (default), json or csv (exact, unrounded numbers)",
        "plot": "also write an SVG of the daily p50 and p95 run duration to this .svg file",
        "image": "GKE environments: the platform image the in-cluster stats Job runs",
    },
)
def stats(c, env, dag=None, days=30, format="table", plot=None, image=None):  # noqa: A002
    """Run counts, success rate, duration percentiles, queued time and retries from Airflow's metadata."""
    from infra import cli

    cli.guarded(cli.stats, env, dag_id=dag or None, days=int(days), fmt=format, plot=plot or None, image=image or None)


@task(
    positional=["env", "pipeline"],
    help={
        "env": ENV_HELP,
        "pipeline": "the pipeline's DAG id (its name in dags/pipelines/)",
        "run": "a run id (default: the latest run)",
        "watch": "refresh until the run ends; exit non-zero if it failed",
        "image": "GKE environments: the platform image the in-cluster stats Job runs",
    },
)
def progress(c, env, pipeline, run=None, watch=False, image=None):
    """Per table of a pipeline run: waiting, running, done, failed, retrying, and the time left."""
    from infra import cli

    cli.guarded(cli.progress, env, pipeline, run_id=run or None, watch=watch, image=image or None)



dags = Collection("dags", dags_validate, dags_graph)
k8s = Collection("k8s", k8s_values, k8s_render, k8s_diff)
ns = Collection(synth, policy, plan, deploy, destroy, status, bootstrap, image, logs, stats, progress, dags, k8s)
