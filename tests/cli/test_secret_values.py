"""One generator for the secrets Airflow needs, used by the GCP deploy and `local`; each fits its algorithm."""

from __future__ import annotations

import json
import warnings

import jwt
import pytest
from cryptography.fernet import Fernet

from infra import naming, secret_values
from infra.airflow_config import build
from infra.config import parse_environment
from infra.local.state import load_secrets as load_with


def _local():
    data = {"runtime": "local", "airflow": {"executor": "LocalExecutor"}, "local": {"folder": "/tmp/unused"}}
    return parse_environment("local", data, "local.yaml")


def load_secrets(folder):
    return load_with(folder, build(_local()))


def sid(purpose: str) -> str:
    return naming.secret_id(_local(), purpose)


def fits_its_algorithm(name: str, value: str) -> None:
    if name == "fernet_key":
        Fernet(value.encode())  # raises unless it is a Fernet key
    else:
        assert len(value.encode()) >= 64, f"{name} is {len(value.encode())} bytes: HS512 wants at least 64"


def test_local_jwt_secret_signs_hs512_tokens_without_pyjwts_short_key_warning(tmp_path):
    values, _ = load_secrets(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # PyJWT's InsecureKeyLengthWarning becomes a failure
        token = jwt.encode({"sub": "admin"}, values[sid("jwt_secret")], algorithm="HS512")
    assert jwt.decode(token, values[sid("jwt_secret")], algorithms=["HS512"]) == {"sub": "admin"}


def test_every_local_secret_fits_its_algorithm(tmp_path):
    values, _ = load_secrets(tmp_path)
    for name in secret_values.NAMES:
        fits_its_algorithm(name, values[sid(name)])


@pytest.mark.parametrize("name", secret_values.NAMES)
def test_every_generated_secret_fits_its_algorithm_and_is_new_each_time(name):
    first, second = secret_values.generate(name), secret_values.generate(name)
    fits_its_algorithm(name, first)
    assert first != second


def test_a_local_secret_too_short_from_an_older_version_is_replaced_and_the_fernet_key_kept(tmp_path):
    fernet = Fernet.generate_key().decode()
    (tmp_path / "secrets.json").write_text(json.dumps({"fernet-key": fernet, "api-secret-key": "a" * 43, "jwt-secret": "j" * 43}))
    values, _ = load_secrets(tmp_path)
    assert values[sid("fernet_key")] == fernet, "encrypted connections stay readable"
    assert len(values[sid("jwt_secret")]) >= 64 and len(values[sid("api_secret_key")]) >= 64
    assert json.loads((tmp_path / "secrets.json").read_text())[sid("jwt_secret")] == values[sid("jwt_secret")], "kept for the next start"
