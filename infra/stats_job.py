"""`invoke stats` / `progress` on GKE: a short-lived Kubernetes Job that queries Cloud SQL from inside the VPC.

Cloud SQL has only a private IP, so the query runs where it is reachable. The operator's side builds the
Job (`job_manifest`), creates it through the Kubernetes API, streams its pod's log and deletes the Job
(`run_job`); `ttlSecondsAfterFinished` removes it anyway if the operator's process dies. The Job runs
as the read-only stats identity (`naming.stats_*`: its own Kubernetes and Google service accounts,
never Airflow's), logs in with IAM database authentication through `cloud-sql-python-connector` on the
private IP, and prints its results as JSON lines the operator's side renders like a local report.

The Job's side is `python -m infra.stats_job stats|progress ...` (`main`): it needs only this module,
`infra.stats`, `infra.progress`, `infra.errors` and the connector with pg8000 in the platform image.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
from typing import Iterator

from infra.errors import UserError

LABEL = "airflow-gke-platform/stats-job"
STATS_PREFIX, PROGRESS_PREFIX = "STATS-JSON ", "PROGRESS-JSON "
TTL_SECONDS = 600
DEADLINE_SECONDS = 3600  # a watched run may take a while; a plain `stats` ends in seconds
# Env vars of the Job's container: where to connect and as whom. None of them is a secret.
ENV_INSTANCE, ENV_DATABASE, ENV_USER, ENV_NAME = "STATS_INSTANCE", "STATS_DATABASE", "STATS_DB_USER", "STATS_ENVIRONMENT"
IMAGE_PULL_ERRORS = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError")


# --- the operator's side -------------------------------------------------------------------------


def job_manifest(env, *, image: str, args: list[str], job_name: str, instance: str = "", database: str = "airflow"):
    """The Job as a kubernetes client object (V1Job): stats identity, no secrets, never retried, cleaned up."""
    from kubernetes import client

    from infra import naming

    labels = {LABEL: job_name, "app.kubernetes.io/name": "airflow-stats", "app.kubernetes.io/managed-by": "airflow-gke-platform"}
    container = client.V1Container(
        name="stats",
        image=image,
        command=["python", "-m", "infra.stats_job"],
        args=args,
        env=[
            client.V1EnvVar(name=ENV_INSTANCE, value=instance),
            client.V1EnvVar(name=ENV_DATABASE, value=database),
            client.V1EnvVar(name=ENV_USER, value=naming.stats_database_user(env)),
            client.V1EnvVar(name=ENV_NAME, value=env.name),
            client.V1EnvVar(name="PYTHONUNBUFFERED", value="1"),  # lines reach the log as they are printed
        ],
        resources=client.V1ResourceRequirements(requests={"cpu": "100m", "memory": "256Mi"}, limits={"memory": "512Mi"}),
        security_context=client.V1SecurityContext(
            run_as_non_root=True,
            allow_privilege_escalation=False,
            read_only_root_filesystem=True,
            capabilities=client.V1Capabilities(drop=["ALL"]),
        ),
    )
    return client.V1Job(
        api_version="batch/v1",
        kind="Job",
        metadata=client.V1ObjectMeta(name=job_name, namespace=env.airflow.namespace, labels=labels),
        spec=client.V1JobSpec(
            backoff_limit=0,  # a failed query is reported, not retried behind the user's back
            ttl_seconds_after_finished=TTL_SECONDS,
            active_deadline_seconds=DEADLINE_SECONDS,
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(
                    service_account_name=naming.stats_kubernetes_service_account(env),
                    restart_policy="Never",
                    containers=[container],
                ),
            ),
        ),
    )


def _api_error(exc, action: str) -> UserError:
    reason = exc.reason
    try:
        reason = json.loads(exc.body).get("message", reason)
    except (TypeError, ValueError, AttributeError):
        pass
    return UserError(f"Kubernetes API refused to {action}: {exc.status} {reason}")


def _pod(core, namespace: str, job_name: str):
    pods = core.list_namespaced_pod(namespace, label_selector=f"{LABEL}={job_name}").items
    return pods[0] if pods else None


def _wait_started(core, namespace: str, job_name: str, timeout: float, poll: float):
    deadline = time.monotonic() + timeout
    while True:
        pod = _pod(core, namespace, job_name)
        if pod is not None and pod.status and pod.status.phase in ("Running", "Succeeded", "Failed"):
            return pod
        for status in (pod.status.container_statuses or []) if pod is not None and pod.status else []:
            waiting = status.state.waiting if status.state else None
            if waiting and waiting.reason in IMAGE_PULL_ERRORS:
                raise UserError(f"stats Job {job_name}: container cannot start: {waiting.reason}: {waiting.message or ''}".strip())
        if time.monotonic() > deadline:
            raise UserError(f"stats Job {job_name} did not start within {timeout:.0f}s (see `kubectl -n {namespace} describe job {job_name}`)")
        time.sleep(poll)


def _exit_code(pod) -> int | None:
    for status in (pod.status.container_statuses or []) if pod and pod.status else []:
        if status.state and status.state.terminated:
            return status.state.terminated.exit_code
    return None


def run_job(api_client, job, *, start_timeout: float = 300, poll: float = 1.0) -> Iterator[str]:
    """Create the Job, yield its pod's log lines as they come, then delete the Job (whatever happened).

    Raises UserError when the Job cannot be created, does not start, or its container exits non-zero
    (with the Job's own `error:` line when it printed one).
    """
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    batch, core = client.BatchV1Api(api_client), client.CoreV1Api(api_client)
    namespace, name = job.metadata.namespace, job.metadata.name
    try:
        batch.create_namespaced_job(namespace, job)
    except ApiException as exc:
        raise _api_error(exc, f"create Job {namespace}/{name}") from None
    error_line = None
    try:
        pod = _wait_started(core, namespace, name, start_timeout, poll)
        stream = core.read_namespaced_pod_log(pod.metadata.name, namespace, container="stats", follow=True, _preload_content=False)
        buffer = b""
        for chunk in stream.stream(4096):
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for raw in lines:
                line = raw.decode(errors="replace")
                if line.startswith("error: "):
                    error_line = line.removeprefix("error: ")
                yield line
        if buffer:
            yield buffer.decode(errors="replace")
        code = _exit_code(pod)
        deadline = time.monotonic() + 60
        while code is None and time.monotonic() < deadline:
            code = _exit_code(_pod(core, namespace, name))
            if code is None:
                time.sleep(poll)
        if code != 0:
            raise UserError(error_line or f"stats Job {name} failed (exit code {code}); its log is above")
    except ApiException as exc:
        raise _api_error(exc, f"follow Job {namespace}/{name}") from None
    finally:
        try:
            batch.delete_namespaced_job(name, namespace, body=client.V1DeleteOptions(propagation_policy="Background"))
        except ApiException as exc:
            if exc.status != 404:
                print(f"warning: could not delete Job {namespace}/{name}: {exc.status} {exc.reason}", file=sys.stderr)


def _payloads(lines: Iterator[str], prefix: str) -> Iterator[dict]:
    """The JSON payloads among the Job's lines; anything else (warnings) goes to stderr as is."""
    for line in lines:
        if line.startswith(prefix):
            yield json.loads(line.removeprefix(prefix))
        elif line.strip() and not line.startswith("error: "):
            print(line, file=sys.stderr)


def _cluster(env):
    """An ApiClient for the environment's cluster and its Cloud SQL instance/database, from the stack outputs."""
    from kubernetes import client, config
    from rich.console import Console

    from infra import gke
    from infra.config import ROOT
    from infra.status import read_outputs

    outputs = read_outputs(env, ROOT, Console(stderr=True))
    if not outputs.get("cluster_name"):
        raise UserError(f"{env.name} has no terraform outputs: deploy it first (`invoke deploy {env.name}`)")
    _, creds = gke.cluster_credentials(
        gke.GoogleClusterApi(), gke.default_credentials(), outputs["project_id"], outputs["cluster_location"], outputs["cluster_name"]
    )
    configuration = client.Configuration()
    config.load_kube_config_from_dict(gke.kubeconfig(creds), client_configuration=configuration)
    return client.ApiClient(configuration), outputs["sql_connection_name"], outputs.get("database_name", "airflow")


def _job(env, image: str | None, args: list[str], *, cluster=None):
    if not image:
        raise UserError(f"{env.name} runs on GKE: give --image, the platform image the stats Job runs")
    api_client, instance, database = cluster or _cluster(env)
    name = f"stats-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
    return api_client, job_manifest(env, image=image, args=args, job_name=name, instance=instance, database=database)


def stats_in_cluster(env, *, dag_id: str | None, days: int, with_daily: bool, image: str | None, cluster=None):
    from infra.stats import Report

    args = ["stats", "--days", str(days), *(["--dag", dag_id] if dag_id else []), *(["--daily"] if with_daily else [])]
    api_client, job = _job(env, image, args, cluster=cluster)
    reports = list(_payloads(run_job(api_client, job), STATS_PREFIX))
    if not reports:
        raise UserError(f"stats Job {job.metadata.name} printed no report")
    return Report.from_dict(reports[-1])


def progress_in_cluster(env, pipeline: str, *, run_id: str | None, watch: bool, interval: float, image: str | None, cluster=None) -> int:
    from infra.progress import Snapshot, follow

    args = ["progress", pipeline, "--interval", str(interval), *(["--run", run_id] if run_id else []), *(["--watch"] if watch else [])]
    api_client, job = _job(env, image, args, cluster=cluster)
    snapshots = (Snapshot.from_dict(p) for p in _payloads(run_job(api_client, job), PROGRESS_PREFIX))
    return follow(snapshots, watch=watch)


# --- inside the Job ------------------------------------------------------------------------------


def connect_cloud_sql(instance: str, user: str, database: str, *, connector=None):
    """pg8000 over the Cloud SQL connector: IAM database login (no password), private IP only."""
    from google.cloud.sql.connector import Connector, IPTypes

    connector = connector or Connector(refresh_strategy="lazy")
    return connector.connect(instance, "pg8000", user=user, db=database, enable_iam_auth=True, ip_type=IPTypes.PRIVATE)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m infra.stats_job", description="Run inside the stats Job.")
    sub = parser.add_subparsers(dest="command", required=True)
    stats = sub.add_parser("stats")
    stats.add_argument("--dag")
    stats.add_argument("--days", type=int, default=30)
    stats.add_argument("--daily", action="store_true")
    progress = sub.add_parser("progress")
    progress.add_argument("pipeline")
    progress.add_argument("--run")
    progress.add_argument("--watch", action="store_true")
    progress.add_argument("--interval", type=float, default=5.0)
    return parser


def main(argv: list[str] | None = None, *, connect=None) -> int:
    """Run the query on Cloud SQL and print JSON lines; `connect` (tests) replaces the connector."""
    from infra import progress, stats

    args = _parser().parse_args(argv)
    env_name = os.environ.get(ENV_NAME, "gke")
    try:
        conn = (connect or connect_cloud_sql)(os.environ[ENV_INSTANCE], os.environ[ENV_USER], os.environ[ENV_DATABASE])
        try:
            if args.command == "stats":
                report = stats.collect(conn, env_name, dag_id=args.dag, days=args.days, with_daily=args.daily)
                print(STATS_PREFIX + json.dumps(report.as_dict()), flush=True)
                return 0
            take = lambda: progress.snapshot(conn, env_name, args.pipeline, args.run)  # noqa: E731
            for snap in progress.polled(take, args.watch, args.interval):
                print(PROGRESS_PREFIX + json.dumps(snap.as_dict()), flush=True)
            return 0  # the operator's side exits by the run's state, from the last snapshot
        finally:
            conn.close()
    except UserError as exc:
        print(f"error: {exc}", flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
