"""The k8s/ program's entry: the stack name is the environment; read everything once, build one AirflowPlatform.

Inputs: environments/<stack>.yaml (infra.config), the manifests the deploy's "render cluster side" step
wrote and checked under build/k8s/<stack>/ (applied as they are: not rendered again for each of preview,
migrations and up), the terraform outputs file the deploy wrote
(path in $AIRFLOW_PLATFORM_INPUTS: Cloud SQL connection name and image tag, nothing secret), and the
Secret Manager values, read at deploy time with the deployer's credentials.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the language host runs this folder; the toolkit lives beside it
    sys.path.insert(0, str(ROOT))

import pulumi  # noqa: E402

from infra import naming  # noqa: E402
from infra.cluster_resources import INPUTS_ENV, component_name, read_inputs, with_image_tag  # noqa: E402
from infra.config import load_environment  # noqa: E402
from infra.gcp_apis import SecretVersionsApi  # noqa: E402
from infra.k8s_render import BUILD, read  # noqa: E402
from k8s.airflow_platform import AirflowPlatform, AirflowPlatformArgs  # noqa: E402

env = load_environment(pulumi.get_stack(), ROOT / "environments")
inputs = read_inputs(Path(os.environ.get(INPUTS_ENV) or ROOT / "build" / "pulumi" / f"{env.name}.json"))
env = with_image_tag(env, inputs["image_tag"])
manifests = BUILD / env.name
chart_objects = read(manifests)
if not chart_objects:
    raise SystemExit(f"{manifests} holds no manifests: run `invoke k8s.render {env.name}` (the deploy does) before pulumi")
secrets = SecretVersionsApi()
platform = AirflowPlatform(
    component_name(env),
    AirflowPlatformArgs(
        env=env,
        chart_objects=chart_objects,
        sql_connection_name=inputs["sql_connection_name"],
        read_secret=lambda secret_id: secrets.access_latest(env.gcp.project_id, secret_id)[0],
    ),
)

pulumi.export("namespace", platform.namespace)
pulumi.export("api_server_service", naming.API_SERVER_SERVICE)
pulumi.export("migration_job", naming.migration_job(env))
pulumi.export("ui_host", platform.ui_host)
