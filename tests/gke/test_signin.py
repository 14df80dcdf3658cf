"""Google sign-in: a real FAB-backed `airflow api-server` on PostgreSQL, signing in at a loopback OIDC provider.

The provider (discovery, authorize, token, userinfo, JWKS; RS256-signed ID tokens) stands in for
accounts.google.com; the API server runs the `webserver_config.py` that infra/signin.py generates from an
environment file. A listed account gets its role; an unlisted one is signed in to no access (403).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass

import pytest
import requests

from infra.airflow_config import build
from infra.config import parse_environment
from infra.signin import CLIENT_ID_ENV, CLIENT_SECRET_ENV, webserver_config
from tests.loopback import Loopback, QuietHandler

pytestmark = pytest.mark.integration

FAB = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
CLIENT_ID = "test-client.apps.example"
CLIENT_SECRET = "test-client-secret-not-real"
GCP = {"project_id": "acme-airflow-test", "region": "europe-west1", "zones": ["europe-west1-b"], "state_bucket": "acme-tfstate"}


class OidcProvider(Loopback):
    """A minimal OpenID provider on 127.0.0.1; `next_email` is who signs in at the next authorize."""

    def __init__(self):
        from authlib.jose import JsonWebKey

        self.key = JsonWebKey.generate_key("RSA", 2048, is_private=True, options={"kid": "test-key"})
        self.next_email = ""
        self.codes: dict[str, dict] = {}
        self.tokens: dict[str, dict] = {}
        provider = self

        class Handler(QuietHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                url = urllib.parse.urlparse(self.path)
                query = dict(urllib.parse.parse_qsl(url.query))
                if url.path == "/.well-known/openid-configuration":
                    return self.reply(200, provider.discovery())
                if url.path == "/jwks":
                    return self.reply(200, {"keys": [provider.key.as_dict(is_private=False)]})
                if url.path == "/authorize":
                    code = secrets.token_urlsafe(16)
                    provider.codes[code] = {"email": provider.next_email, "nonce": query.get("nonce")}
                    target = f"{query['redirect_uri']}?{urllib.parse.urlencode({'code': code, 'state': query['state']})}"
                    self.send_response(302)
                    self.send_header("Location", target)
                    self.end_headers()
                    return None
                if url.path == "/userinfo":
                    token = self.headers.get("Authorization", "").removeprefix("Bearer ")
                    return self.reply(200 if token in provider.tokens else 401, provider.tokens.get(token, {}))
                return self.reply(404, {"error": "not_found"})

            def do_POST(self):  # noqa: N802
                body = dict(urllib.parse.parse_qsl(self.body().decode()))
                grant = provider.codes.pop(body.get("code", ""), None)
                if self.path != "/token" or grant is None:
                    return self.reply(400, {"error": "invalid_grant"})
                return self.reply(200, provider.token_response(grant))

        super().__init__(Handler)

    def discovery(self) -> dict:
        return {
            "issuer": self.url, "authorization_endpoint": f"{self.url}/authorize", "token_endpoint": f"{self.url}/token",
            "userinfo_endpoint": f"{self.url}/userinfo", "jwks_uri": f"{self.url}/jwks",
            "response_types_supported": ["code"], "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"], "scopes_supported": ["openid", "email", "profile"],
        }

    def token_response(self, grant: dict) -> dict:
        from authlib.jose import jwt

        now = int(time.time())
        email = grant["email"]
        claims = {"iss": self.url, "aud": CLIENT_ID, "sub": f"sub-{email}", "email": email, "email_verified": True,
                  "given_name": email.split("@")[0], "family_name": "Test", "iat": now, "exp": now + 600}
        if grant["nonce"]:
            claims["nonce"] = grant["nonce"]
        id_token = jwt.encode({"alg": "RS256", "kid": "test-key"}, claims, self.key).decode()
        access = secrets.token_urlsafe(16)
        self.tokens[access] = {k: claims[k] for k in ("sub", "email", "email_verified", "given_name", "family_name")}
        return {"access_token": access, "token_type": "Bearer", "expires_in": 600, "id_token": id_token, "scope": "openid email profile"}



@pytest.fixture
def oidc():
    provider = OidcProvider()
    yield provider
    provider.close()


PUBLIC_HOST = "airflow.acme.example"


def _environment():
    data = {"runtime": "gke", "gcp": GCP, "signin": {"admin": ["alice@acme.example"], "viewer": ["@partner.example"]},
            "airflow": {"ui": {"host": PUBLIC_HOST}}}
    return parse_environment("signin", data, "environments/signin.yaml")


@dataclass(frozen=True)
class ApiServer:
    base: str  # http://127.0.0.1:<port>
    uri: str  # its metadata database
    env: dict  # the process environment it runs with (what an exec into its pod would see)


@pytest.fixture
def api_server(postgres_server, oidc, free_port, tmp_path):
    """`airflow api-server` with the FAB auth manager and the generated webserver_config.py."""
    uri = postgres_server.create_database("airflow_signin").replace("postgresql://", "postgresql+psycopg2://")
    home = tmp_path / "airflow-home"
    home.mkdir()
    config = home / "webserver_config.py"
    config.write_text(webserver_config(_environment(), discovery_url=f"{oidc.url}/.well-known/openid-configuration"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")},
        "AIRFLOW_HOME": str(home), "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": uri, "AIRFLOW__CORE__AUTH_MANAGER": FAB,
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__CORE__DAGS_FOLDER": str(tmp_path),
        "AIRFLOW__FAB__CONFIG_FILE": str(config), "AIRFLOW__API__BASE_URL": base,
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32), "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        CLIENT_ID_ENV: CLIENT_ID, CLIENT_SECRET_ENV: CLIENT_SECRET,
        # The loopback provider speaks plain HTTP; Google's endpoints are HTTPS.
        "AUTHLIB_INSECURE_TRANSPORT": "1",
    }
    migrate = subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, capture_output=True, text=True, timeout=600)
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    log = open(tmp_path / "api-server.log", "wb")
    # The API server's flags on GKE (the builder's command after `--port N`); the load balancer is this test.
    command = build(_environment()).component("api-server").command
    flags = command[command.index("--port") + 2:]
    assert flags, "on GKE the API server reads the load balancer's forwarded headers"
    env["FORWARDED_ALLOW_IPS"] = "127.0.0.1"
    proc = subprocess.Popen([sys.executable, "-m", "airflow", "api-server", "--port", str(port), "--host", "127.0.0.1", *flags],
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if requests.get(f"{base}/api/v2/monitor/health", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert proc.poll() is None, (tmp_path / "api-server.log").read_text()[-3000:]
            assert time.monotonic() < deadline, (tmp_path / "api-server.log").read_text()[-3000:]
            time.sleep(1)
        yield ApiServer(base, uri, dict(env))
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()
        log.close()


def _sign_in(base: str, oidc: OidcProvider, email: str) -> requests.Session:
    oidc.next_email = email
    session = requests.Session()
    session.get(f"{base}/auth/login/google?next={urllib.parse.quote(base + '/')}", timeout=30)
    assert session.cookies.get("_token"), f"{email}: signing in gave no API token cookie"
    return session


def _roles(uri: str, email: str) -> set[str]:
    import psycopg2

    conn = psycopg2.connect(uri.replace("postgresql+psycopg2://", "postgresql://"))
    with conn.cursor() as cur:
        cur.execute("SELECT r.name FROM ab_user u JOIN ab_user_role ur ON ur.user_id = u.id JOIN ab_role r ON r.id = ur.role_id "
                    "WHERE u.username = %s", (email,))
        roles = {row[0] for row in cur.fetchall()}
    conn.close()
    return roles


def _redirect_uri(base: str, headers: dict) -> str:
    """The redirect URI the API server asks the OAuth provider to send the browser back to."""
    answer = requests.get(f"{base}/auth/login/google", headers=headers, allow_redirects=False, timeout=30)
    assert answer.status_code in (302, 303, 307), answer.text[:500]
    return urllib.parse.parse_qs(urllib.parse.urlparse(answer.headers["Location"]).query)["redirect_uri"][0]


def test_listed_account_gets_its_role_and_unknown_account_gets_no_access(api_server, oidc):
    base, uri = api_server.base, api_server.uri
    # Behind the load balancer (HTTPS ends there): Google must send the browser back to the public https address.
    behind = {"Host": PUBLIC_HOST, "X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}
    assert _redirect_uri(base, behind) == f"https://{PUBLIC_HOST}/auth/oauth-authorized/google"

    alice = _sign_in(base, oidc, "alice@acme.example")
    assert alice.get(f"{base}/api/v2/dags", timeout=30).status_code == 200
    assert "Admin" in _roles(uri, "alice@acme.example")

    partner = _sign_in(base, oidc, "bob@partner.example")
    assert partner.get(f"{base}/api/v2/dags", timeout=30).status_code == 200
    assert "Viewer" in _roles(uri, "bob@partner.example")
    assert partner.post(f"{base}/api/v2/pools", json={"name": "p", "slots": 1}, timeout=30).status_code == 403

    stranger = _sign_in(base, oidc, "mallory@elsewhere.example")
    assert stranger.get(f"{base}/api/v2/dags", timeout=30).status_code == 403
    assert _roles(uri, "mallory@elsewhere.example") == {"Public"}
