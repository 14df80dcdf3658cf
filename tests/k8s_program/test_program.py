"""The k8s/ program under Pulumi's mocks, for dev, qa and prod: what it registers, against what helm rendered.

Each test renders the chart with the real helm in the same session and runs the program on those
objects; the mocks see every resource the engine would be asked to create.
"""

from __future__ import annotations

import copy

import pytest

from infra import naming
from infra.chart_values import image
from infra.cluster_resources import Key, component_urn, migrations_plan, prerequisites
from infra.config import load_environment
from tests.k8s.kit import GCP_ENVS, require_helm_and_chart
from tests.k8s_program.kit import Program, run

pytestmark = pytest.mark.integration

CONNECTION = "acme-airflow-x:europe-west1:af-x-pg"


@pytest.fixture(scope="module")
def programs() -> dict[str, tuple[list[dict], Program]]:
    """Per environment: helm's objects, and what the program registered when given a copy of them."""
    from infra.k8s_render import manifests

    require_helm_and_chart()
    out = {}
    for name in GCP_ENVS:
        env = load_environment(name)
        objects = manifests(env)
        out[name] = (objects, run(env, copy.deepcopy(objects), sql_connection_name=CONNECTION))
    return out


@pytest.fixture(params=GCP_ENVS)
def case(request, programs):
    objects, program = programs[request.param]
    return load_environment(request.param), objects, program


def unwrap(value):
    """Pulumi's wire form of a secret ({sig: ..., value: ...}) → the value."""
    if isinstance(value, dict):
        if "value" in value and len(value) == 2 and any(len(k) == 32 for k in value):
            return unwrap(value["value"])
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


def resource(program: Program, env, api_version: str, kind: str, name: str):
    urn = Key(api_version, kind, name, naming.namespace(env) if kind != "Namespace" else None).urn(env)
    found = program.by_urn()
    assert urn in found, f"{env.name}: no {kind}/{name} registered; have {sorted(r.name for r in program.kubernetes())}"
    return found[urn]


def test_every_rendered_chart_object_is_one_resource_equal_to_what_helm_rendered(case):
    env, objects, program = case
    registered = program.by_urn()
    for obj in objects:
        key = Key.of(obj)
        urn = key.urn(env)
        assert urn in registered, f"{env.name}: {key.kind}/{key.name} from the chart is not registered"
        assert registered[urn].type == key.type and registered[urn].parent == component_urn(env)
        assert registered[urn].inputs == obj, f"{env.name}: {key.kind}/{key.name} differs from helm's rendering"
    platform = {k.urn(env) for k in prerequisites(env)}
    extra = {r.urn for r in program.kubernetes()} - platform - {Key.of(o).urn(env) for o in objects}
    ui = {"Ingress", "ManagedCertificate"}
    assert {registered[u].type.rsplit(":", 1)[1] for u in extra} <= ui, f"{env.name}: unexpected resources {sorted(extra)}"


def test_no_chart_object_is_applied_before_the_migration_job_completed(case):
    env, objects, program = case
    job = resource(program, env, "batch/v1", "Job", naming.migration_job(env))
    order = [r.urn for r in program.registered]
    for obj in objects:
        r = program.by_urn()[Key.of(obj).urn(env)]
        assert job.urn in r.dependencies, f"{env.name}: {obj['kind']}/{obj['metadata']['name']} does not wait for the migration Job"
        assert order.index(job.urn) < order.index(r.urn)
    # The Job itself comes after everything it needs: it is the last prerequisite, each waiting for the one before.
    keys = [k.urn(env) for k in prerequisites(env)]
    assert keys[-1] == job.urn
    for before, after in zip(keys, keys[1:]):
        assert program.by_urn()[after].dependencies == [before]


def test_the_migration_job_is_replaced_when_its_image_changes_and_runs_migrations_then_the_stats_grants(case):
    env, objects, program = case
    job = resource(program, env, "batch/v1", "Job", naming.migration_job(env))
    assert job.replace_on_changes == ["spec"] and job.delete_before_replace, "a new image must run the migrations again"
    pod = job.inputs["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    scheduler = next(o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "airflow-scheduler")
    chart_image = {c["name"]: c["image"] for c in scheduler["spec"]["template"]["spec"]["containers"]}["scheduler"]
    assert container["image"] == chart_image == "{}:{}".format(*image(env)), "the Job migrates with the image the chart runs"
    assert pod["serviceAccountName"] == naming.KUBERNETES_SERVICE_ACCOUNT
    script = container["command"][-1]
    assert script.index("airflow db migrate") < script.index("create_session")
    env_vars = {e["name"]: e for e in container["env"]}
    assert env_vars["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]["valueFrom"]["secretKeyRef"] == {
        "name": naming.metadata_secret_name(env), "key": "connection"}
    assert env_vars["AIRFLOW__CORE__FERNET_KEY"]["valueFrom"]["secretKeyRef"]["key"] == "fernet-key"
    grants = env_vars["STATS_READ_ONLY_GRANTS"]["value"]
    assert 'GRANT SELECT ON' in grants and f'TO "{naming.stats_database_user(env)}"' in grants
    assert "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" not in {k for k, e in env_vars.items() if "value" in e}, "the URL only from the Secret"


def test_service_accounts_act_as_the_stacks_google_accounts(case):
    env, _objects, program = case
    for name, google in ((naming.KUBERNETES_SERVICE_ACCOUNT, naming.airflow_service_account(env)),
                         (naming.STATS_KUBERNETES_SERVICE_ACCOUNT, naming.stats_service_account_email(env))):
        sa = resource(program, env, "v1", "ServiceAccount", name)
        assert sa.inputs["metadata"]["annotations"] == {"iam.gke.io/gcp-service-account": google}


def test_the_auth_proxy_uses_private_ip_and_iam_login_and_no_password(case):
    env, _objects, program = case
    proxy = resource(program, env, "apps/v1", "Deployment", naming.cloud_sql_proxy_service(env))
    pod = proxy.inputs["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    args = container["args"]
    assert {"--private-ip", "--auto-iam-authn", "--port=5432", "--address=0.0.0.0", "--health-check", "--http-address=0.0.0.0"} <= set(args)
    assert args[-1] == CONNECTION
    assert pod["serviceAccountName"] == naming.KUBERNETES_SERVICE_ACCOUNT, "logs in as the Airflow IAM user"
    assert "password" not in str(proxy.inputs).lower() and "credentials-file" not in str(args)
    assert container["image"].startswith("gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.")
    assert {p: container[p]["httpGet"]["path"] for p in ("startupProbe", "livenessProbe", "readinessProbe")} == {
        "startupProbe": "/startup", "livenessProbe": "/liveness", "readinessProbe": "/readiness"}
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] and not security["allowPrivilegeEscalation"] and security["capabilities"] == {"drop": ["ALL"]}
    assert container["resources"]["limits"] and container["resources"]["requests"]
    assert proxy.inputs["spec"]["replicas"] == (2 if env.airflow.replicas.api_server >= 2 else 1)
    service = resource(program, env, "v1", "Service", naming.cloud_sql_proxy_service(env))
    assert service.inputs["spec"]["ports"][0]["port"] == naming.CLOUD_SQL_PROXY_PORT
    assert service.inputs["spec"]["selector"] == proxy.inputs["spec"]["selector"]["matchLabels"]
    assert f"{naming.cloud_sql_proxy_service(env)}.{naming.namespace(env)}" in naming.metadata_connection_url(env)


def _secret_refs(objects: list[dict]) -> set[tuple[str, str]]:
    found = set()

    def walk(value):
        if isinstance(value, dict):
            ref = value.get("secretKeyRef")
            if ref:
                found.add((ref["name"], ref["key"]))
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(objects)
    return found


def test_every_secret_the_chart_reads_exists_with_its_key_and_is_held_as_a_pulumi_secret(case):
    env, objects, program = case
    secrets = {r.inputs["metadata"]["name"]: r for r in program.kubernetes() if r.type == "kubernetes:core/v1:Secret"}
    for name, key in _secret_refs(objects):
        assert name in secrets, f"{env.name}: the chart reads Secret {name}, which the program does not create"
        assert key in unwrap(secrets[name].inputs["stringData"]), f"{env.name}: Secret {name} has no key {key!r}"
    for name, r in secrets.items():
        assert r.secret_paths() == ["stringData"], f"{env.name}: Secret {name}'s data is not marked secret"
        assert "stringData" in r.additional_secret_outputs and "data" in r.additional_secret_outputs
    oauth = naming.oauth_kubernetes_secrets(env)
    assert set(oauth) <= set(secrets)
    assert unwrap(secrets[oauth[0]].inputs["stringData"]) == {"value": f"value-of-{naming.oauth_client_id_secret(env)}"}
    assert sorted(program.reads) == sorted([naming.secret_id(env, p) for p in naming.airflow_secrets(env)]
                                           + [naming.oauth_client_id_secret(env), naming.oauth_client_secret_secret(env)])
    assert unwrap(secrets[naming.metadata_secret_name(env)].inputs["stringData"]) == {"connection": naming.metadata_connection_url(env)}


def test_the_ui_is_public_only_with_a_host(case):
    env, _objects, program = case
    kinds = {r.type.rsplit(":", 1)[1] for r in program.kubernetes()}
    if env.airflow.ui.host is None:
        assert not kinds & {"Ingress", "ManagedCertificate"}, f"{env.name} is internal only"
        return
    cert = resource(program, env, "networking.gke.io/v1", "ManagedCertificate", naming.ui_certificate(env))
    assert cert.inputs["spec"] == {"domains": [env.airflow.ui.host]}
    ingress = resource(program, env, "networking.k8s.io/v1", "Ingress", naming.name(env, "ui"))
    assert ingress.inputs["metadata"]["annotations"] == {
        "kubernetes.io/ingress.global-static-ip-name": naming.ui_address(env),
        "networking.gke.io/managed-certificates": naming.ui_certificate(env),
        "kubernetes.io/ingress.allow-http": "false",
    }
    backend = {"service": {"name": naming.API_SERVER_SERVICE, "port": {"number": naming.API_SERVER_PORT}}}
    assert ingress.inputs["spec"]["rules"][0]["host"] == env.airflow.ui.host
    assert ingress.inputs["spec"]["rules"][0]["http"]["paths"][0]["backend"] == backend
    api_server = resource(program, env, "v1", "Service", naming.API_SERVER_SERVICE)
    assert {p["port"] for p in api_server.inputs["spec"]["ports"]} >= {naming.API_SERVER_PORT}, "the Ingress points at the chart's Service"


def test_the_deploys_migrations_urns_are_exactly_what_the_program_registered(case):
    env, objects, program = case
    plan = migrations_plan(env, objects)
    registered = [r.urn for r in program.registered]
    assert plan.applied == registered[: len(plan.applied)], "the migrations step applies the component, the prerequisites, the Job"
    assert plan.applied[-1] == Key("batch/v1", "Job", naming.migration_job(env), naming.namespace(env)).urn(env)
    assert sorted(plan.excluded) == sorted(registered[len(plan.applied):]), "everything else waits for the full pulumi up"


def test_with_celery_the_broker_secrets_exist_with_the_keys_the_chart_reads():
    from infra.k8s_render import manifests

    require_helm_and_chart()
    prod = load_environment("prod")
    env = prod.model_copy(update={"airflow": prod.airflow.model_copy(update={"executor": "CeleryExecutor"})})
    objects = manifests(env)
    program = run(env, copy.deepcopy(objects))
    secrets = {r.inputs["metadata"]["name"]: unwrap(r.inputs["stringData"]) for r in program.kubernetes() if r.type.endswith(":Secret")}
    refs = _secret_refs(objects)
    for purpose in ("redis_password", "celery_broker_url"):
        name = naming.kubernetes_secret_name(naming.secret_id(env, purpose))
        assert any(ref_name == name for ref_name, _ in refs), f"the chart reads {name} with Celery"
    for name, key in refs:
        assert key in secrets.get(name, {}), f"the chart reads {name}[{key}], which the program does not create"
