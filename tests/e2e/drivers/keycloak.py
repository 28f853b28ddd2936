"""A real Keycloak as the OIDC provider of oauth2-proxy: a browser-less login and the client behind it.

``login`` walks the authorization code flow the way a browser does, one hop at a time (tests/e2e/drivers/browser.py):
oauth2-proxy's ``/oauth2/start`` -> Keycloak's login form -> POST of user and password -> oauth2-proxy's callback
-> the page asked for. Two Keycloak 26 traps (FACTS, "Keycloak"): its login cookies are ``Secure; SameSite=None``
even over plain http, so a cookie jar will not send them back to http://127.0.0.1 and Keycloak answers
400 ``cookie_not_found`` - the secure flag is cleared before the form is posted; and the form's ``action`` is
HTML-escaped (``&amp;``).

``RealmClient`` is a confidential client of the test realm made through the admin API for one test (and deleted
after it); oauth2-proxy gets ``OidcProvider.keycloak(issuer)`` (tests/e2e/drivers/oauth2_proxy.py). ``keycloak``
arguments are the session fixture's ``KeycloakServer`` (tests/helpers/keycloak_fixture.py).
"""

from __future__ import annotations

import html
import re
import secrets
from dataclasses import dataclass

from tests.e2e.drivers.browser import Browser
from tests.e2e.drivers.proc import Response, expect

_LOGIN_FORM = re.compile(r'<form\b[^>]*\bid="kc-form-login"[^>]*>', re.S)
_ACTION = re.compile(r'\baction="([^"]*)"')


def login_form_action(page: Response) -> str:
    """The login form's target, HTML-unescaped (Keycloak writes ``&amp;`` between the query parameters)."""
    form = _LOGIN_FORM.search(page.body.decode(errors="replace"))
    expect(form, f"no Keycloak login form in the page ({page.status}): {page.body[:300]!r}")
    return html.unescape(_ACTION.search(form.group(0)).group(1))


def submit_login(browser: Browser, page: Response, username: str, password: str) -> Response:
    """POST the credentials to the login form of ``page``; Keycloak answers 302 to the client's redirect URI."""
    for cookie in (c for host in browser.http_hosts for c in browser.cookies_for(host)):
        cookie.secure = False  # Keycloak 26 marks them Secure even over http: else 400 cookie_not_found
    return browser.post(login_form_action(page), {"username": username, "password": password, "credentialId": ""})


def login(browser: Browser, start_url: str, username: str, password: str) -> Response:
    """The whole browser-less login from oauth2-proxy's start URL to the page behind it (every hop in
    ``browser.steps``); fails with the hop that went wrong."""
    start = browser.get(start_url)
    expect(start.status == 302, f"{start_url}: {start.status} {start.body[:300]!r}")
    page = browser.follow(start)
    expect(page.status == 200, f"Keycloak login page: {page.status} {page.body[:300]!r}")
    posted = submit_login(browser, page, username, password)
    expect(posted.status == 302, f"Keycloak login POST: {posted.status} {posted.body[:500]!r}")
    callback = browser.follow(posted)
    expect(callback.status == 302, f"oauth2-proxy callback: {callback.status} {callback.body[:300]!r}")
    return browser.follow(callback)


def server_version(keycloak) -> str:
    status, info = keycloak.request("GET", "/admin/serverinfo", token=keycloak.admin_token())
    return info["systemInfo"]["version"] if status == 200 else f"unknown ({status})"


@dataclass
class RealmClient:
    """A confidential client with the standard flow on, in the session Keycloak's test realm."""

    keycloak: object
    client_id: str
    secret: str
    uuid: str = ""

    @classmethod
    def create(cls, keycloak, client_id: str, *, redirect_uris: list[str], web_origins: list[str]) -> RealmClient:
        c = cls(keycloak, client_id, "s-" + secrets.token_urlsafe(24))
        body = {
            "clientId": client_id,
            "protocol": "openid-connect",
            "publicClient": False,
            "standardFlowEnabled": True,
            "secret": c.secret,
            "redirectUris": redirect_uris,
            "webOrigins": web_origins,
        }
        status, out = c._admin("POST", "/clients", json_body=body)
        expect(status == 201, f"creating client {client_id}: {status} {out}")
        c.uuid = c.read()["id"]
        return c

    def _admin(self, method: str, path: str, **kw):
        realm = f"/admin/realms/{self.keycloak.realm}"
        return self.keycloak.request(method, realm + path, token=self.keycloak.admin_token(), **kw)

    def read(self) -> dict:
        status, found = self._admin("GET", f"/clients?clientId={self.client_id}")
        expect(status == 200 and len(found) == 1, f"client {self.client_id}: {status} {found}")
        return found[0]

    def secret_in_keycloak(self) -> str:
        status, body = self._admin("GET", f"/clients/{self.uuid}/client-secret")
        expect(status == 200, f"client secret of {self.client_id}: {status}")
        return body["value"]

    def regenerate_secret(self) -> str:
        """A new client secret, as the admin console's "Regenerate" makes it."""
        status, body = self._admin("POST", f"/clients/{self.uuid}/client-secret")
        expect(status == 200, f"regenerating the secret of {self.client_id}: {status}")
        self.secret = body["value"]
        return self.secret

    def delete(self) -> None:
        if self.uuid:
            self._admin("DELETE", f"/clients/{self.uuid}")
