"""Inside the stats Job: the Cloud SQL connector asks the Admin API about the right instance, with IAM
login, and connects to the private IP. The Admin API is a loopback server; the credentials are fake."""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from google.auth.credentials import Credentials

from infra.stats_job import connect_cloud_sql
from tests.loopback import Loopback, QuietHandler

PROJECT, REGION, INSTANCE = "acme-airflow-prod", "europe-west1", "af-prod-pg"
LOGIN_SCOPE = "https://www.googleapis.com/auth/sqlservice.login"


class FakeCredentials(Credentials):
    """Tokens say which scope they were minted for, so the test can tell the admin token from the login one."""

    def __init__(self) -> None:
        super().__init__()
        self._scopes = None

    def refresh(self, request) -> None:
        self.token = "fake-iam-login-token" if self._scopes and LOGIN_SCOPE in self._scopes else "fake-admin-token"
        self.expiry = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) + dt.timedelta(hours=1)


def _certificate(subject: str, public_key, issuer_key, issuer: str, ca: bool) -> str:
    now = dt.datetime.now(dt.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    return builder.sign(issuer_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


class AdminApi(Loopback):
    """connectSettings (a PUBLIC and a PRIVATE address) and generateEphemeralCert, signed by a test CA."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        ca_cert = _certificate("test-ca", self.ca_key.public_key(), self.ca_key, "test-ca", ca=True)
        api = self

        class Handler(QuietHandler):
            def do_GET(self):  # noqa: N802
                api.requests.append({"method": "GET", "path": self.path, "auth": self.headers.get("Authorization")})
                self.reply(200, {
                    "kind": "sql#connectSettings", "region": REGION, "databaseVersion": "POSTGRES_17", "backendType": "SECOND_GEN",
                    "serverCaCert": {"cert": ca_cert},
                    # Refused fast (nothing listens on 127.0.0.2) if the connector picked the public address.
                    "ipAddresses": [{"type": "PRIMARY", "ipAddress": "127.0.0.2"}, {"type": "PRIVATE", "ipAddress": "127.0.0.1"}],
                })

            def do_POST(self):  # noqa: N802
                body = json.loads(self.body())
                api.requests.append({"method": "POST", "path": self.path, "auth": self.headers.get("Authorization"), "json": body})
                client_key = serialization.load_pem_public_key(body["public_key"].encode())
                self.reply(200, {"ephemeralCert": {"cert": _certificate("client", client_key, api.ca_key, "test-ca", ca=False)}})

        super().__init__(Handler)


class Listener:
    """Stands where the instance's server-side proxy would: records who connected, then hangs up."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.accepted: list[str] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        self.accepted.append(conn.getsockname()[0])
        conn.close()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def admin_api():
    api = AdminApi()
    yield api
    api.close()


def test_connector_asks_for_the_instance_with_an_iam_token_and_dials_the_private_ip(admin_api, monkeypatch):
    from google.cloud.sql.connector import Connector, connector as connector_module

    listener = Listener()
    monkeypatch.setattr(connector_module, "SERVER_PROXY_PORT", listener.port)  # the proxy port is fixed (3307) in production
    connector = Connector(sqladmin_api_endpoint=admin_api.url, credentials=FakeCredentials(), refresh_strategy="lazy")
    try:
        with pytest.raises(Exception):  # the listener hangs up before TLS: what matters is who was asked and dialled
            connect_cloud_sql(f"{PROJECT}:{REGION}:{INSTANCE}", "af-prod-stats@acme-airflow-prod.iam", "airflow", connector=connector)
    finally:
        connector.close()
        listener.close()
    instance_path = f"/sql/v1beta4/projects/{PROJECT}/instances/{INSTANCE}"
    settings = [r for r in admin_api.requests if r["method"] == "GET"]
    certs = [r for r in admin_api.requests if r["method"] == "POST"]
    assert settings and settings[0]["path"] == f"{instance_path}/connectSettings"
    assert certs and certs[0]["path"] == f"{instance_path}:generateEphemeralCert"
    assert {r["auth"] for r in admin_api.requests} == {"Bearer fake-admin-token"}
    # IAM database login: the login-scoped token rides in the ephemeral certificate request.
    assert certs[0]["json"]["access_token"] == "fake-iam-login-token"
    assert listener.accepted == ["127.0.0.1"], "connected to the PRIVATE address"
