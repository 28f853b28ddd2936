"""The whole front door on loopback, every value read back from the cluster after site.yml.

nginx as the ingress of pypi.theedgeworks.ai on 127.0.0.1:443 (tests/e2e/drivers/front_door.py): the seed's API paths
behind basic auth to devpi-server, the web UI behind oauth2-proxy and the session's real Keycloak. The Keycloak client
is one of this module's own, made with other redirect URIs and web origins and without devpi's. The tests run in file
order on one stage: the first before site.yml ran with the role's Keycloak variables, the others after.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import pytest

from helpers.keycloak_fixture import client_secret
from tests.e2e import secret_sources as src
from tests.e2e.drivers import front_door as fd
from tests.e2e.drivers import keycloak as kcd
from tests.e2e.drivers.browser import Browser
from tests.e2e.drivers.oauth2_proxy import OidcProvider
from tests.e2e.drivers.proc import Response

pytestmark = pytest.mark.e2e

BASE, CALLBACK = fd.BASE, fd.CALLBACK
OTHER_URIS = ["https://other.theedgeworks.ai/oauth2/callback", "https://ci.theedgeworks.ai/*"]
OTHER_ORIGINS = ["https://other.theedgeworks.ai"]
USER, PASSWORD = "dev", "dev-test-password"  # the test realm's user (tests/keycloak/README.md)
SA = "devpi-bootstrap"  # the test realm's service account with view-clients + manage-clients


@dataclass(repr=False)  # holds the Secrets: keep them out of failure reports
class Stage:
    keycloak: object
    client: kcd.RealmClient
    runner: src.SiteRunner
    namespace: str
    door: fd.FrontDoor
    secrets: src.SecretSet
    keycloak_ran: bool = False
    session: Browser | None = None

    def site(self, **extra) -> float:
        """site.yml with the role's Keycloak variables, the client secret unset (read from Keycloak); then the
        Secrets read back and oauth2-proxy restarted with them. nginx and devpi-server keep theirs: unchanged."""
        variables = {
            "devpi_secrets_keycloak_url": self.keycloak.url,
            "devpi_secrets_keycloak_realm": self.keycloak.realm,
            "devpi_secrets_keycloak_auth_client_id": SA,
            "devpi_secrets_keycloak_auth_client_secret": client_secret(SA),
            "devpi_secrets_oauth2_client_id": self.client.client_id,
            "devpi_secrets_oauth2_client_secret": None,  # null = unset (SiteRunner always sets one): read from Keycloak
            **extra,
        }
        took = self.runner.run(self.namespace, extra=variables)
        before, self.secrets = self.secrets, self.runner.secret_set(self.namespace)
        others = [n for n in src.SECRET_NAMES if n != "devpi-oauth2-proxy-secret"]
        assert {n: self.secrets.raw[n] for n in others} == {n: before.raw[n] for n in others}
        self.door.restart_oauth2_proxy(self.secrets)
        self.keycloak_ran = True
        return took

    def with_keycloak(self) -> None:
        if not self.keycloak_ran:
            self.site()

    def login(self) -> tuple[Browser, Response]:
        """A fresh browser logged in from ``/``: (browser, the page it lands on)."""
        b = self.door.browser()
        home = b.get(f"{BASE}/")
        assert home.status == 302 and home.headers["location"] == f"{BASE}/oauth2/start?rd=/", home.headers
        return b, kcd.login(b, home.headers["location"], USER, PASSWORD)


@pytest.fixture(scope="module")
def stage(keycloak, site_runner, nginx_bin, devpi_bins, oauth2_proxy_bin, tmp_path_factory, report):
    fd.require_port()
    launcher = keycloak.launcher
    ready = f"ready in {launcher.last_ready_seconds:.0f}s" if launcher and launcher.last_ready_seconds else "given"
    report("front door: keycloak", f"{kcd.server_version(keycloak)}, {ready}, issuer {keycloak.realm_url}")
    client = kcd.RealmClient.create(
        keycloak, f"devpi-front-door-{secrets.token_hex(3)}", redirect_uris=OTHER_URIS, web_origins=OTHER_ORIGINS
    )
    try:
        ns = f"e2e-front-door-{secrets.token_hex(3)}"
        # Secrets first, Keycloak not yet told: the client's real secret given, as a user would before the role did it.
        took = site_runner.run(
            ns, client_secret=client.secret, extra={"devpi_secrets_oauth2_client_id": client.client_id}
        )
        report("front door: site.yml without Keycloak", f"{took:.1f}s (namespace {ns}, client {client.client_id})")
        s = site_runner.secret_set(ns)
        with fd.FrontDoor(tmp_path_factory.mktemp("front-door"), OidcProvider.keycloak(keycloak.realm_url)) as door:
            door.open(s)
            yield Stage(keycloak, client, site_runner, ns, door, s)
    finally:
        client.delete()


def test_1_before_the_role_ran_against_keycloak_the_login_stops_at_keycloak(stage, report):
    assert not stage.keycloak_ran, "this test runs first, before site.yml with the Keycloak variables"
    b = stage.door.browser()
    keycloak_page = b.follow(b.follow(b.get(f"{BASE}/")))  # / -> /oauth2/start?rd=/ -> Keycloak
    report("front door 1: before the role ran against Keycloak", b.steps_report())
    assert [s.status for s in b.steps] == [302, 302, 400]
    assert parse_qs(urlsplit(b.steps[-1].url).query)["redirect_uri"] == [CALLBACK]
    assert b"Invalid parameter: redirect_uri" in keycloak_page.body


def test_2_after_the_role_a_browserless_login_reaches_the_devpi_web_ui(stage, report):
    given = stage.secrets.client_secret.decode()
    rotated_in_keycloak = stage.client.regenerate_secret()  # so the role must read it from Keycloak
    took = stage.site()
    assert stage.secrets.client_secret.decode() == rotated_in_keycloak != given
    b, landed = stage.login()
    auth = b.get(f"{BASE}/oauth2/auth")
    report(f"front door 2: login after site.yml with Keycloak ({took:.1f}s)", b.steps_report())
    assert landed.status == 200 and b.steps[-2].url == f"{BASE}/" and auth.status == 202
    assert b"<html" in landed.body.lower() and b"devpi" in landed.body, landed.body[:300]  # devpi-web's page
    assert b.cookie("_oauth2_proxy")
    stage.session = b


def test_3_pip_through_the_front_door_with_the_generated_password(stage, tmp_path, report):
    client = stage.secrets.raw["devpi-basic-auth-client"]
    creds = (client["username"].decode(), client["password"].decode())
    ok = stage.door.pip_install(tmp_path / "with", creds)
    report("front door 3: pip install with devpi-basic-auth-client", {"pip exit": ok.rc, **ok.requests})
    assert ok.rc == 0 and set(ok.requests.values()) == {200}, ok
    wheel = stage.door.wheel.name  # the installed distribution is the wheel uploaded to the private index
    assert [f.name for f in ok.files] == [wheel.split("-py3")[0] + ".dist-info"], (ok.files, wheel)
    refused = stage.door.pip_install(tmp_path / "without", None)
    report("front door 3: pip install without credentials", {"pip exit": refused.rc, **refused.requests})
    assert refused.rc != 0 and not refused.files and set(refused.requests.values()) == {401}, refused


def test_4_rotating_the_cookie_secret_ends_the_session_and_a_new_login_works(stage, report):
    stage.with_keycloak()
    old = stage.session or stage.login()[0]
    mark, before = len(old.steps), stage.secrets
    stage.door.restart_oauth2_proxy(stage.secrets)  # the control: a restart with the same Secret keeps the session
    old.get(f"{BASE}/oauth2/auth")
    took = stage.site(devpi_secrets_rotate=["devpi-oauth2-proxy-secret"])
    assert stage.secrets.cookie_secret != before.cookie_secret
    assert (stage.secrets.client_id, stage.secrets.client_secret) == (before.client_id, before.client_secret)
    old.get(f"{BASE}/oauth2/auth")
    old.get(f"{BASE}/")
    title = f"front door 4: old session, oauth2-proxy restarted with the same Secret, then rotated ({took:.1f}s)"
    report(title, old.steps_report(mark))
    assert [s.status for s in old.steps[mark:]] == [202, 401, 302]
    b, landed = stage.login()
    auth = b.get(f"{BASE}/oauth2/auth")
    report("front door 4: new login after rotation", b.steps_report())
    assert landed.status == 200 and auth.status == 202


def test_5_the_clients_other_redirect_uris_and_web_origins_are_intact(stage, report):
    stage.with_keycloak()
    c = stage.client.read()
    report("front door 5: client after all runs", {"redirectUris": c["redirectUris"], "webOrigins": c["webOrigins"]})
    assert sorted(c["redirectUris"]) == sorted([*OTHER_URIS, CALLBACK])
    assert sorted(c["webOrigins"]) == sorted([*OTHER_ORIGINS, BASE])
