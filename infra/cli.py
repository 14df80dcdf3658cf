"""What each invoke task calls: load the environment once, then hand it to the module that owns the job.

`guarded` turns a UserError, missing or expired Google credentials and an unreachable Google API into
one line on stderr and a non-zero exit (never a traceback); each
command returns an exit code, and a non-zero one ends the process with it. The runtime in the
environment file, not its name, picks the local or the GCP path.
"""

from __future__ import annotations

import os
from typing import Callable

from invoke.exceptions import Exit

from infra.config import Environment, load_all, load_environment
from infra.errors import UserError

# jsii prints a large end-of-life banner for Node 20 on every run; the toolkit says so once in the README.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


def guarded(command: Callable[..., int | None], *args, **kwargs) -> None:
    try:
        code = command(*args, **kwargs) or 0
    except UserError as exc:
        raise Exit(f"error: {exc}", code=exc.exit_code) from None
    except KeyboardInterrupt:
        raise Exit("interrupted", code=130) from None
    except Exception as exc:
        from infra.gcp_apis import google_failure  # light: no Google import

        message = google_failure(exc)  # expired credentials, an unreachable Google API: bad input, not a bug
        if message is None:
            raise
        raise Exit(f"error: {message}", code=1) from None
    if code:
        raise Exit(code=code)


def _gcp_environments(env_name: str | None, all_envs: bool) -> list[Environment]:
    if all_envs and env_name:
        raise UserError("give an environment name or --all, not both")
    if all_envs or env_name is None:
        return load_all(runtime="gke")
    env = load_environment(env_name)
    if env.runtime != "gke":
        raise UserError(f"environment {env.name!r} has runtime {env.runtime}: it has no GCP infrastructure to synthesize")
    return [env]


def synth(env_name: str | None, *, all_envs: bool = False) -> int:
    if env_name is None and not all_envs:
        raise UserError("name an environment (invoke synth prod) or pass --all")
    envs = _gcp_environments(env_name, all_envs)  # every file validated before synthesis is imported
    from infra.synth import synth_and_report

    return synth_and_report(envs)


def policy(env_name: str | None) -> int:
    envs = _gcp_environments(env_name, env_name is None)
    from infra.manifest_policy import manifest_gate
    from infra.policy import policy_gate

    stacks, manifests = policy_gate(envs), manifest_gate(envs)  # both always run: one report, every finding
    return stacks or manifests


def plan(env_name: str, *, fmt: str, out: str | None, offline: bool, base: str | None) -> int:
    if fmt not in ("text", "markdown", "json"):
        raise UserError(f"--format must be text, markdown or json, got {fmt!r}")
    if base and not offline:
        raise UserError("--base only applies with --offline")
    (env,) = _gcp_environments(env_name, False)
    from infra.plan import plan as run_plan

    return run_plan(env, fmt=fmt, out=out, offline=offline, base=base)


def deploy(env_name: str, *, yes: bool, dry_run: bool, plan_file: str | None, skip_k8s: bool) -> int:
    env = load_environment(env_name)
    if env.runtime == "local":
        if plan_file or skip_k8s:
            raise UserError("--plan-file and --skip-k8s apply to GCP environments only")
        from infra.local.runtime import deploy as deploy_local

        return deploy_local(env, dry_run=dry_run)
    from infra.deploy import deploy as deploy_gke

    return deploy_gke(env, yes=yes, dry_run=dry_run, plan_file=plan_file, skip_k8s=skip_k8s)


def destroy(env_name: str, *, yes: bool, dry_run: bool, force: bool, purge: bool) -> int:
    env = load_environment(env_name)
    if env.runtime == "local":
        from infra.local.runtime import destroy as destroy_local

        return destroy_local(env, purge=purge, dry_run=dry_run)
    if purge:
        raise UserError("--purge applies to the local environment only")
    from infra.destroy import destroy as destroy_gke

    return destroy_gke(env, yes=yes, dry_run=dry_run, force=force)


def status(env_name: str) -> int:
    env = load_environment(env_name)
    if env.runtime == "local":
        from infra.local.runtime import status as status_local

        return status_local(env)
    from infra.status import status as status_gke

    return status_gke(env)


def bootstrap(env_name: str, *, api_url: str | None, dry_run: bool, wait: bool) -> int:
    env = load_environment(env_name)
    from infra import bootstrap as objects
    from infra.steps import make_console

    console = make_console()
    if env.runtime == "local":
        from infra.airflow_config import ADMIN_USER, local_folder
        from infra.local import bootstrap as local_bootstrap
        from infra.local import processes, state

        url = api_url or local_bootstrap.api_url(env)
        password = (processes.read_json(state.passwords_file(local_folder(env))) or {}).get("admin")
        if not password:
            raise UserError("the local platform has no admin login yet: run `invoke deploy local` first")
        return objects.bootstrap(
            env, base_url=url, token=lambda: objects.password_token(url, ADMIN_USER, password),
            read_secret=objects.no_secrets_here(env), console=console, wait_for_canary=wait, dry_run=dry_run,
        )
    if api_url:
        raise UserError("--api-url applies to the local environment only: GKE environments are reached through the cluster's API")
    if dry_run:  # touches nothing: no terraform state, no GKE API, no cluster
        console.print(objects.bootstrap_gke(env, kubeconfig=None, console=console, dry_run=True), highlight=False)
        return 0
    from infra.config import ROOT
    from infra.gke import environment_kubeconfig
    from infra.status import read_outputs

    kubeconfig = environment_kubeconfig(env.name, read_outputs(env, ROOT, console), root=ROOT)
    objects.bootstrap_gke(env, kubeconfig=kubeconfig, console=console, wait_for_canary=wait)
    return 0


def image(env_name: str, *, dry_run: bool) -> int:
    env = load_environment(env_name)
    from infra.image import image as build_image

    build_image(env, dry_run=dry_run)
    return 0


def logs(env_name: str, *, component: str | None, follow: bool, task: str | None = None) -> int:
    env = load_environment(env_name)
    if task:
        from infra.task_logs import print_task_log

        return print_task_log(env, task)
    if env.runtime != "local":
        raise UserError(f"{env.name} runs on GKE: its logs are in Cloud Logging (sink filters in environments/{env.name}.yaml)")
    from infra.local.runtime import logs as local_logs

    return local_logs(env, component=component, follow=follow)


def dags_validate(path: str | None) -> int:
    from infra.dagtools import validate

    return validate(path)


def dags_graph(pipeline: str, *, out: str | None) -> int:
    from infra.dagtools import graph

    return graph(pipeline, out=out)


def _cluster_environments(env_name: str | None) -> list[Environment]:
    if env_name is None:
        return load_all(runtime="gke")
    env = load_environment(env_name)
    if env.runtime != "gke":
        raise UserError(f"environment {env.name!r} has runtime {env.runtime}: it has no cluster side to render")
    return [env]


def k8s_values(env_name: str) -> int:
    (env,) = _cluster_environments(env_name)
    from infra.k8s_render import values_yaml

    print(values_yaml(env), end="")
    return 0


def k8s_render(env_name: str | None, *, outdir: str | None) -> int:
    from pathlib import Path

    from infra.k8s_render import render, report

    for env in _cluster_environments(env_name):
        print(report(render(env, Path(outdir) if outdir else None)))
    return 0


def k8s_diff(env_name: str, *, fmt: str, out: str | None, base: str | None) -> int:
    if fmt not in ("text", "markdown", "json"):
        raise UserError(f"--format must be text, markdown or json, got {fmt!r}")
    (env,) = _cluster_environments(env_name)
    from infra.manifest_diff import cluster_report
    from infra.plan import emit
    from infra.steps import make_console

    report = cluster_report(env, base)
    emit(report, fmt, out, make_console())
    return 2 if report.has_changes else 0


def stats(env_name: str, *, dag_id: str | None, days: int, fmt: str, plot: str | None, image: str | None = None) -> int:
    from infra.stats_run import stats as run_stats

    return run_stats(load_environment(env_name), dag_id=dag_id, days=days, fmt=fmt, plot=plot, image=image)


def progress(env_name: str, pipeline: str, *, run_id: str | None, watch: bool, image: str | None = None) -> int:
    from infra.stats_run import progress as run_progress

    return run_progress(load_environment(env_name), pipeline, run_id=run_id, watch=watch, image=image)
