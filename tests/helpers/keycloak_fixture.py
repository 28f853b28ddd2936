"""The session fixture `keycloak`: one real Keycloak per test session, started lazily.

Registered in tests/conftest.py (pytest_plugins). By default the first test that asks for
`keycloak` starts one with tools/keycloak.py (its own temporary state dir, a free loopback
port, the test realm tests/keycloak/realm-theedgeworks.json imported) and it is stopped at
the end of the session. Set KEYCLOAK_URL, KEYCLOAK_ADMIN_USERNAME and KEYCLOAK_ADMIN_PASSWORD
(e.g. `set -a; . .keycloak/env; set +a` after `make keycloak-up`) to use an already running
Keycloak with that realm instead; nothing is started then.

Small HTTP helpers (standard library only) for the tests come along:

    kc.token("master", client_id="admin-cli", username=..., password=...)  # password grant
    kc.token("theedgeworks", client_id="devpi-bootstrap", client_secret=client_secret("devpi-bootstrap"))
    status, body = kc.request("GET", "/admin/realms/theedgeworks/users", token=access_token)
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from helpers import load_tool

REPO = Path(__file__).resolve().parents[2]
REALM_FILE = REPO / "tests" / "keycloak" / "realm-theedgeworks.json"
ENV_VARS = ("KEYCLOAK_URL", "KEYCLOAK_ADMIN_USERNAME", "KEYCLOAK_ADMIN_PASSWORD")

#: tools/keycloak.py: Keycloak, KeycloakError, ensure_dist, ...
kc_tool = load_tool("keycloak.py", "devpi_keycloak")


def realm_definition() -> dict:
    return json.loads(REALM_FILE.read_text())


def client_secret(client_id: str) -> str:
    """The test realm's secret of a confidential client (a test fixture, stored in the realm JSON)."""
    for c in realm_definition()["clients"]:
        if c["clientId"] == client_id:
            return c["secret"]
    raise KeyError(client_id)


@dataclass
class KeycloakServer:
    """A running Keycloak: its base URL and the master realm's admin; `launcher` is the
    tools/keycloak.py instance when this session started it, else None."""

    url: str
    admin_username: str
    admin_password: str
    launcher: Any = None
    realm: str = kc_tool.REALM

    @property
    def realm_url(self) -> str:
        return f"{self.url}/realms/{self.realm}"

    def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        form: dict | None = None,
        json_body: Any = None,
        timeout: float = 30,
    ) -> tuple[int, Any]:
        """(status, body): body parsed as JSON when it is JSON, else text. No exception on 4xx/5xx."""
        headers = {"Accept": "application/json"}
        data = None
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif json_body is not None:
            data = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
        url = path if path.startswith(("http://", "https://")) else self.url + path
        req = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310 -- test server
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:  # noqa: S310
                status, raw = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        text = raw.decode(errors="replace")
        try:
            return status, json.loads(text) if text else None
        except ValueError:
            return status, text

    def token(self, realm: str, *, client_id: str, client_secret: str | None = None, **grant: str) -> str:
        """An access token: grant_type=password when username/password are given, else client_credentials."""
        form = {"client_id": client_id, **grant}
        form["grant_type"] = "password" if "username" in grant else "client_credentials"
        if client_secret is not None:
            form["client_secret"] = client_secret
        status, body = self.request("POST", f"/realms/{realm}/protocol/openid-connect/token", form=form)
        if status != 200 or not isinstance(body, dict) or "access_token" not in body:
            raise AssertionError(f"token request for {client_id} in realm {realm} failed: {status} {body}")
        return body["access_token"]

    def admin_token(self) -> str:
        return self.token("master", client_id="admin-cli", username=self.admin_username, password=self.admin_password)


@pytest.fixture(scope="session")
def keycloak(tmp_path_factory) -> KeycloakServer:
    """The session's Keycloak with the test realm (see the module docstring)."""
    given = {v: os.environ.get(v) for v in ENV_VARS}
    if any(given.values()):
        missing = [v for v, val in given.items() if not val]
        if missing:
            pytest.fail(f"{', '.join(missing)} not set (needed with {ENV_VARS[0]})", pytrace=False)
        yield KeycloakServer(given["KEYCLOAK_URL"].rstrip("/"), given[ENV_VARS[1]], given[ENV_VARS[2]])
        return
    timeout = float(os.environ.get("DEVPI_KEYCLOAK_READY_TIMEOUT", "600"))  # a loaded CI machine is slow
    kc = kc_tool.Keycloak(tmp_path_factory.mktemp("keycloak"), ready_timeout=timeout, die_with_parent=True)
    try:
        kc.up()
    except kc_tool.KeycloakError as e:
        kc.down()
        pytest.fail(f"could not start Keycloak: {e}", pytrace=False)
    yield KeycloakServer(kc.url, kc.admin_username, kc.admin_password, launcher=kc)
    kc.down()
