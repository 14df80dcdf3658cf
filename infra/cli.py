"""What each invoke task calls: load the environment once, then hand it to the module that owns the job.

`guarded` turns a UserError into one line on stderr and a non-zero exit (never a traceback); each
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
    from infra.policy import policy_gate

    return policy_gate(envs)


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
    from infra.deploy import destroy as destroy_gke

    return destroy_gke(env, yes=yes, dry_run=dry_run, force=force)


def status(env_name: str) -> int:
    env = load_environment(env_name)
    if env.runtime == "local":
        from infra.local.runtime import status as status_local

        return status_local(env)
    from infra.status import status as status_gke

    return status_gke(env)


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
