"""What the local runtime keeps between commands: generated secrets, the admin login, the spec.

Secrets are generated once and kept in `<folder>/secrets.json` (mode 0600); the admin password sits
in the file SimpleAuthManager reads. The spec (`<folder>/run/_spec.json`) is the rendered
configuration the supervisor runs: per component its command, config hash and probe definitions.
"""

from __future__ import annotations

import os
import secrets as random
import shutil
import string
import sys
from pathlib import Path

from infra.airflow_config import SECRET_PURPOSES, AirflowSettings, config_hash, hashed_env, render_cfg, render_env
from infra.config import ROOT
from infra import secret_values
from infra.local import processes

PASSWORD_ALPHABET = string.ascii_letters + string.digits


def airflow_home(folder: Path) -> Path:
    return folder / "airflow"


def passwords_file(folder: Path) -> Path:
    return airflow_home(folder) / "passwords.json"


# Names in secrets.json before the secrets took the Terraform ids: an existing fernet key must carry
# over, or values already encrypted in the local metadata database become unreadable.
LEGACY_NAMES = {("core", "fernet_key"): "fernet-key", ("api", "secret_key"): "api-secret-key", ("api_auth", "jwt_secret"): "jwt-secret"}
ADMIN_PASSWORD = "admin-password"


def load_secrets(folder: Path, settings: AirflowSettings) -> tuple[dict[str, str], bool]:
    """The generated secrets `settings` names (created on first use); True when the admin password is new."""
    path = folder / "secrets.json"
    stored = processes.read_json(path) or {}
    values = dict(stored)
    for option, secret in settings.secrets.items():
        purpose = SECRET_PURPOSES.get(option)
        if purpose is None:
            continue  # the admin password, kept in the file SimpleAuthManager reads
        legacy = LEGACY_NAMES.get(option)
        if secret not in values and legacy in values:
            values[secret] = values.pop(legacy)
        if purpose == "fernet_key" and secret in values:
            continue  # never replaced: values encrypted with it would become unreadable
        # A value too short for its algorithm (kept from an older version) is replaced.
        if not secret_values.strong_enough(purpose, values.get(secret) or ""):
            values[secret] = secret_values.generate(purpose)
    if values != stored:
        processes.write_json(path, values, mode=0o600)
    passwords = processes.read_json(passwords_file(folder)) or {}
    created = "admin" not in passwords
    if created:
        # Letters and digits only: a token_urlsafe password can begin with "-" and break copy-paste into a shell.
        passwords["admin"] = "".join(random.choice(PASSWORD_ALPHABET) for _ in range(16))
        processes.write_json(passwords_file(folder), passwords, mode=0o600)
    return {**values, ADMIN_PASSWORD: passwords["admin"]}, created


def write_airflow_cfg(settings: AirflowSettings, folder: Path, source: str) -> Path:
    """`<folder>/airflow/airflow.cfg` showing the platform's settings (Airflow would write its defaults)."""
    path = airflow_home(folder) / "airflow.cfg"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(".airflow.cfg.tmp")
    tmp.write_text(render_cfg(settings, source))
    tmp.replace(path)
    return path


def process_env(settings: AirflowSettings, folder: Path, secret_values: dict[str, str]) -> dict[str, str]:
    """The rendered variables plus a PATH that finds this interpreter's `airflow` and `python` first."""
    env = render_env(settings, secret_values, airflow_home(folder))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def base_environ() -> dict[str, str]:
    """The caller's environment minus Airflow settings: the rendered configuration is the only one."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_HOME"))}


def _resolve(command: tuple[str, ...], path: str) -> list[str]:
    found = shutil.which(command[0], path=path)
    return [found or command[0], *command[1:]]


def build_spec(settings: AirflowSettings, env: dict[str, str], enabled: dict[str, bool]) -> dict:
    components = {}
    for component in settings.components:
        if not enabled.get(component.name, True):
            continue

        def probe(p):
            data = p.to_k8s()
            if "exec" in data:
                data["exec"]["command"] = _resolve(tuple(data["exec"]["command"]), env["PATH"])
            return data

        components[component.name] = {
            "command": _resolve(component.command, env["PATH"]),
            "cwd": str(ROOT),
            "hash": config_hash(component, hashed_env(component, env)),
            # Readiness only routes Service traffic on GKE; locally nothing routes, so it is not run.
            "startup": probe(component.startup) if component.startup else None,
            "liveness": probe(component.liveness),
        }
    return {"env": env, "components": components}
