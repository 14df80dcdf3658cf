"""Names are a contract: what Airflow on GKE will ask for is what the stack creates and grants.

Both sides are read from their artefacts, not from infra/naming.py: the names Airflow asks for from the
rendered manifests (airflow.cfg in the ConfigMap, secretKeyRef names, service account, namespace), the
names created and granted from the synthesized cdk.tf.json of the same environment.
"""

from __future__ import annotations

import json
import re
import shutil
from urllib.parse import urlparse

import pytest

from infra import naming
from infra.config import load_environment
from infra.synth import synth_environments
from tests.k8s.kit import GCP_ENVS, Manifests
from tests.stacks.stackkit import SynthStack

pytestmark = pytest.mark.integration
ACCESSOR = "roles/secretmanager.secretAccessor"


@pytest.fixture(scope="module")
def stacks(tmp_path_factory) -> dict[str, SynthStack]:
    envs = [load_environment(name) for name in GCP_ENVS]
    outdir = tmp_path_factory.mktemp("contract") / "cdktf.out"
    results = synth_environments(envs, outdir, backend=False)
    yield {env.name: SynthStack(env, result.json_path) for env, result in zip(envs, results)}
    shutil.rmtree(outdir, ignore_errors=True)


@pytest.fixture(params=GCP_ENVS)
def pair(request, stacks, rendered) -> tuple[Manifests, SynthStack]:
    return rendered[request.param], stacks[request.param]


def _is_airflow(stack: SynthStack, member: str) -> bool:
    return member.startswith("${") and stack.ref(member).path == "iam/airflow"


def _secret_refs(manifests: Manifests) -> dict[str, set[str]]:
    """Kubernetes Secret name → the environment variables that read it, over every pod."""
    refs: dict[str, set[str]] = {}
    for spec in manifests.pod_specs().values():
        for container in (spec.get("containers") or []) + (spec.get("initContainers") or []):
            for var in container.get("env") or []:
                ref = (var.get("valueFrom") or {}).get("secretKeyRef")
                if ref:
                    refs.setdefault(ref["name"], set()).add(var["name"])
    return refs


def test_the_secrets_backend_reads_prefixes_the_stack_grants(pair):
    manifests, stack = pair
    kwargs = json.loads(manifests.airflow_cfg()["secrets"]["backend_kwargs"])
    assert kwargs["project_id"] == stack.raw["provider"]["google"][0]["project"]
    granted = [
        re.search(r'startsWith\("([^"]+)"\)', grant["condition"]["expression"]).group(1)
        for grant in stack.all("google_project_iam_member").values()
        if grant["role"] == ACCESSOR and _is_airflow(stack, grant["member"])
    ]
    assert kwargs["connections_prefix"] in granted and kwargs["variables_prefix"] in granted, granted
    # The DAG repository's token or deploy key: a connection, looked up as <connections_prefix>-<conn_id>.
    bundles = json.loads(manifests.airflow_cfg()["dag_processor"]["dag_bundle_config_list"])
    conn_ids = [b["kwargs"]["git_conn_id"] for b in bundles if "git_conn_id" in b["kwargs"]]
    assert conn_ids, "the DAG repository is private: its bundle names the connection holding its credential"
    for conn_id in conn_ids:
        secret = f"{kwargs['connections_prefix']}-{conn_id}"
        assert any(secret.startswith(prefix) for prefix in granted), f"{secret} is not readable by Airflow"


def test_every_secret_a_pod_reads_mirrors_a_secret_the_stack_creates_and_grants(pair):
    manifests, stack = pair
    refs = _secret_refs(manifests)
    metadata = {name for name, variables in refs.items() if "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" in variables}
    assert len(metadata) == 1
    created = {path: body["secret_id"] for path, body in stack.all("google_secret_manager_secret").items()}
    granted = {
        created[stack.ref(grant["secret_id"]).path]
        for grant in stack.all("google_secret_manager_secret_iam_member").values()
        if grant["role"] == ACCESSOR and _is_airflow(stack, grant["member"])
    }
    asked = {name.replace("-", "_") for name in refs if name not in metadata}
    assert {"fernet_key", "api_secret_key", "jwt_secret"} <= {s.removeprefix(f"af_{manifests.env.name}_") for s in asked}
    assert asked <= set(created.values()), f"not created: {asked - set(created.values())}"
    # The OAuth client of Google sign-in is read by the deploy into the cluster, never by Airflow itself.
    deploy_only = {naming.oauth_client_id_secret(manifests.env), naming.oauth_client_secret_secret(manifests.env)}
    assert deploy_only <= asked, "the API server reads the OAuth client from its Kubernetes Secrets"
    assert asked - deploy_only <= granted, f"not readable by Airflow: {asked - deploy_only - granted}"
    assert not deploy_only & granted, "Airflow's account needs no access to the OAuth client in Secret Manager"


def test_the_metadata_connection_logs_in_as_the_stacks_iam_user_to_its_database(pair):
    manifests, stack = pair
    # The k8s/ program fills the metadata Secret with this URL; the manifests name the Secret only.
    url = urlparse(naming.metadata_connection_url(manifests.env))
    account = stack.one("google_service_account", "iam/airflow")
    project = stack.raw["provider"]["google"][0]["project"]
    iam_users = {u["name"] for u in stack.all("google_sql_user").values() if u["type"] == "CLOUD_IAM_SERVICE_ACCOUNT"}
    assert url.username in iam_users
    (iam_user,) = [u for u in stack.all("google_sql_user").values() if u["name"] == url.username]
    assert url.username == iam_user["name"] == f"{account['account_id']}@{project}.iam"
    assert url.password is None
    assert url.path.lstrip("/") == stack.one("google_sql_database")["name"]


def test_task_logs_go_to_the_bucket_the_stack_creates_and_lets_airflow_write(pair):
    manifests, stack = pair
    folder = urlparse(manifests.airflow_cfg()["logging"]["remote_base_log_folder"])
    assert folder.scheme == "gs"
    buckets = {path: body["name"] for path, body in stack.all("google_storage_bucket").items()}
    assert folder.netloc in buckets.values()
    writers = {
        buckets[stack.ref(grant["bucket"]).path]
        for grant in stack.all("google_storage_bucket_iam_member").values()
        if grant["role"] == "roles/storage.objectAdmin" and _is_airflow(stack, grant["member"])
    }
    assert folder.netloc in writers


def test_pods_run_as_the_kubernetes_account_the_stack_binds_to_airflows_google_account(pair):
    manifests, stack = pair
    accounts = {spec["serviceAccountName"] for spec in manifests.pod_specs().values()}
    namespaces = {o["metadata"]["namespace"] for o in manifests.objects}
    assert len(accounts) == 1 and len(namespaces) == 1
    member = f"serviceAccount:{stack.raw['provider']['google'][0]['project']}.svc.id.goog[{namespaces.pop()}/{accounts.pop()}]"
    bindings = [
        b for b in stack.all("google_service_account_iam_member").values()
        if b["role"] == "roles/iam.workloadIdentityUser" and stack.ref(b["service_account_id"]).path == "iam/airflow"
    ]
    assert [b["member"] for b in bindings] == [member]
    assert stack.output("namespace") == manifests.env.airflow.namespace
