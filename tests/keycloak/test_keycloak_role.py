"""The role against a real Keycloak: the seed's redirect URI and web origin added, nothing else touched.

Each test works on a client of its own, a copy of the realm's confidential `theedgeworks` client (other redirect
URIs and web origins already there). Keycloak admin events (enabled on the realm here) count the writes; a
before/after read of the whole client shows that only the two lists changed.
"""

from __future__ import annotations

import base64
import json
import secrets
import sys

import pytest

from helpers.keycloak_fixture import client_secret
from helpers.leaks import forms_of
from helpers.role_tasks import WRITE_PHASE
from helpers.site import UNSET, ansible_env, api_writes, read_secrets, run_site, writes_between

pytestmark = pytest.mark.integration
HOST = "pypi.theedgeworks.ai"
CALLBACK, ORIGIN = f"https://{HOST}/oauth2/callback", f"https://{HOST}"
SA = "devpi-bootstrap"  # service account with only realm-management view-clients and manage-clients


@pytest.fixture(scope="module")
def admin(keycloak):
    """An admin session on the test realm, with admin events on (they count the writes)."""
    token = keycloak.admin_token()
    status, _body = keycloak.request(
        "PUT",
        f"/admin/realms/{keycloak.realm}",
        token=token,
        json_body={"adminEventsEnabled": True, "adminEventsDetailsEnabled": False},
    )
    assert status == 204, status
    return token


class Client:
    def __init__(self, keycloak, admin, client_id, **fields):
        self.kc, self.admin, self.client_id = keycloak, admin, client_id
        self.secret = "s-" + secrets.token_urlsafe(24)
        body = {
            "clientId": client_id,
            "protocol": "openid-connect",
            "publicClient": False,
            "standardFlowEnabled": True,
            "secret": self.secret,
            "redirectUris": ["https://other.theedgeworks.ai/oauth2/callback", "https://ci.theedgeworks.ai/*"],
            "webOrigins": ["https://other.theedgeworks.ai"],
        }
        body.update(fields)
        status, _body = keycloak.request(
            "POST", f"/admin/realms/{keycloak.realm}/clients", token=keycloak.admin_token(), json_body=body
        )
        assert status == 201, status
        self.uuid = self.read()["id"]

    def read(self) -> dict:
        status, found = self.kc.request(
            "GET", f"/admin/realms/{self.kc.realm}/clients?clientId={self.client_id}", token=self.kc.admin_token()
        )
        assert status == 200 and len(found) == 1, (status, found)
        return found[0]

    def writes(self) -> int:
        """Admin events that changed this client so far (create not counted)."""
        status, events = self.kc.request(
            "GET",
            f"/admin/realms/{self.kc.realm}/admin-events?resourceTypes=CLIENT&operationTypes=UPDATE&max=1000",
            token=self.kc.admin_token(),
        )
        assert status == 200, status
        return sum(1 for e in events if e.get("resourcePath", "").startswith(f"clients/{self.uuid}"))

    def delete(self):
        self.kc.request("DELETE", f"/admin/realms/{self.kc.realm}/clients/{self.uuid}", token=self.kc.admin_token())


@pytest.fixture
def client(keycloak, admin):
    c = Client(keycloak, admin, f"devpi-{secrets.token_hex(4)}")
    yield c
    c.delete()


def kc_vars(keycloak, client_id, **extra) -> dict:
    out = {
        "devpi_secrets_keycloak_url": keycloak.url,
        "devpi_secrets_keycloak_realm": keycloak.realm,
        "devpi_secrets_keycloak_auth_client_id": SA,
        "devpi_secrets_keycloak_auth_client_secret": client_secret(SA),
        "devpi_secrets_oauth2_client_id": client_id,
    }
    out.update(extra)
    return out


def admin_vars(keycloak, client_id) -> dict:
    """Authentication as the master realm's admin user instead of the service account."""
    return kc_vars(
        keycloak,
        client_id,
        devpi_secrets_keycloak_auth_client_id="",
        devpi_secrets_keycloak_auth_client_secret="",
        devpi_secrets_keycloak_auth_username=keycloak.admin_username,
        devpi_secrets_keycloak_auth_password=keycloak.admin_password,
        devpi_secrets_keycloak_auth_realm="master",
    )


def run(kubeconfig, namespace, inputs, *args, drop_secret=True, **extra):
    variables = dict(extra)
    if drop_secret:
        variables["devpi_secrets_oauth2_client_secret"] = UNSET  # read from Keycloak
    return run_site(kubeconfig, namespace, inputs, *args, extra=variables)


def test_adds_exactly_the_two_entries_reads_the_secret_and_a_rerun_writes_nothing(
    keycloak, client, kubeconfig, namespace, inputs
):
    before = client.read()
    v = kc_vars(keycloak, client.client_id)
    first = run(kubeconfig, namespace, inputs, "--diff", **v)
    assert first.rc == 0, first.output[-4000:]
    after = client.read()
    # Keycloak keeps both lists as sets: compare them as sets, and that exactly one entry was added to each.
    assert sorted(after["redirectUris"]) == sorted(before["redirectUris"] + [CALLBACK])
    assert sorted(after["webOrigins"]) == sorted(before["webOrigins"] + [ORIGIN])
    unchanged = {k: v for k, v in before.items() if k not in ("redirectUris", "webOrigins")}
    assert {k: after.get(k) for k in unchanged} == unchanged, "the role changed more than the two lists"
    assert client.writes() == 1
    oauth = read_secrets(kubeconfig, namespace)["devpi-oauth2-proxy-secret"]
    assert base64.b64decode(oauth["data"]["client-secret"]).decode() == client.secret
    assert first.captured["localhost"]["keycloak"] == {
        "client": client.client_id,
        "action": "updated",
        "redirect_uris_added": [CALLBACK],
        "web_origins_added": [ORIGIN],
    }

    writes0 = api_writes(kubeconfig)
    again = run(kubeconfig, namespace, inputs, **v)
    assert again.rc == 0 and again.recap["changed"] == 0, again.output[-4000:]
    assert client.writes() == 1 and writes_between(writes0, api_writes(kubeconfig)) == {}
    assert again.captured["localhost"]["keycloak"]["action"] == "kept"


def test_check_mode_writes_nothing_and_reports_only_the_additions(keycloak, client, kubeconfig, namespace, inputs):
    check = run(kubeconfig, namespace, inputs, "--check", "--diff", **kc_vars(keycloak, client.client_id))
    assert check.rc == 0, check.output[-4000:]
    assert client.writes() == 0 and CALLBACK not in client.read()["redirectUris"]
    keycloak_report = check.captured["localhost"]["keycloak"]
    assert keycloak_report["redirect_uris_added"] == [CALLBACK] and keycloak_report["web_origins_added"] == [ORIGIN]
    assert "other.theedgeworks.ai" not in check.stdout, "the diff shows more than the additions"


def test_a_master_realm_admin_works_too(keycloak, client, kubeconfig, namespace, inputs):
    result = run(kubeconfig, namespace, inputs, **admin_vars(keycloak, client.client_id))
    assert result.rc == 0, result.output[-4000:]
    assert CALLBACK in client.read()["redirectUris"]


@pytest.mark.parametrize("case", ["missing", "public-app", "no-standard-flow", "other-secret"])
def test_what_keycloak_must_fix_fails_before_any_write(keycloak, client, kubeconfig, namespace, inputs, case):
    client_id = {"missing": "no-such-client", "other-secret": client.client_id}.get(case, case)
    extra = {}
    if case == "other-secret":
        extra["devpi_secrets_oauth2_client_secret"] = "not-the-one-in-keycloak"
    writes0 = api_writes(kubeconfig)
    result = run(kubeconfig, namespace, inputs, drop_secret=case != "other-secret", **kc_vars(keycloak, client_id),
                 **extra)  # fmt: skip
    assert result.rc != 0
    assert writes_between(writes0, api_writes(kubeconfig)) == {} and client.writes() == 0
    expected = {
        "missing": "does not exist: create it",
        "public-app": "is public: oauth2-proxy needs a confidential client",
        "no-standard-flow": "standard flow (authorization code) off",
        "other-secret": "devpi_secrets_oauth2_client_secret differs from the secret Keycloak holds for",
    }[case]
    assert expected in result.stdout, result.output[-3000:]
    assert client.secret not in result.output and "not-the-one-in-keycloak" not in result.output


def test_a_refused_keycloak_write_leaves_kubernetes_untouched_and_a_rerun_converges(
    keycloak, admin, client, kubeconfig, namespace, inputs
):
    """A service account that may read clients but not change them: the Keycloak write is refused first."""
    reader = Client(keycloak, admin, f"reader-{secrets.token_hex(3)}", serviceAccountsEnabled=True,
                    standardFlowEnabled=False)  # fmt: skip
    try:
        _grant_realm_management(keycloak, reader.uuid, ["view-clients"])
        v = kc_vars(
            keycloak,
            client.client_id,
            devpi_secrets_keycloak_auth_client_id=reader.client_id,
            devpi_secrets_keycloak_auth_client_secret=reader.secret,
        )
        writes0 = api_writes(kubeconfig)
        refused = run(kubeconfig, namespace, inputs, **v)
        assert refused.rc != 0 and "403" in refused.stdout, refused.output[-3000:]
        assert writes_between(writes0, api_writes(kubeconfig)) == {}, "Kubernetes was written after a refused write"
        assert reader.secret not in refused.output
        converged = run(kubeconfig, namespace, inputs, **kc_vars(keycloak, client.client_id))
        assert converged.rc == 0, converged.output[-3000:]
        assert CALLBACK in client.read()["redirectUris"]
    finally:
        reader.delete()


def _grant_realm_management(keycloak, client_uuid, roles):
    realm, admin = keycloak.realm, keycloak.admin_token()
    status, user = keycloak.request("GET", f"/admin/realms/{realm}/clients/{client_uuid}/service-account-user",
                                    token=admin)  # fmt: skip
    assert status == 200, status
    status, rm = keycloak.request("GET", f"/admin/realms/{realm}/clients?clientId=realm-management", token=admin)
    rm_id = rm[0]["id"]
    status, available = keycloak.request("GET", f"/admin/realms/{realm}/clients/{rm_id}/roles", token=admin)
    chosen = [r for r in available if r["name"] in roles]
    status, _body = keycloak.request(
        "POST", f"/admin/realms/{realm}/users/{user['id']}/role-mappings/clients/{rm_id}", token=admin,
        json_body=chosen,
    )  # fmt: skip
    assert status == 204, status


def test_no_keycloak_secret_in_any_output(keycloak, client, kubeconfig, namespace, inputs):
    """The leak suite for Keycloak: service-account secret, admin password and client secret, in every form, in the
    output of runs at -vvv --diff - check mode, a first run, a re-run, a refused login, a mismatching client secret."""
    v = kc_vars(keycloak, client.client_id)
    user = admin_vars(keycloak, client.client_id)
    refused = dict(v)
    refused["devpi_secrets_keycloak_auth_client_secret"] = "wrong-" * 4
    runs = {
        "check mode": run(kubeconfig, namespace, inputs, "-vvv", "--diff", "--check", **v),
        "first run": run(kubeconfig, namespace, inputs, "-vvv", "--diff", **v),
        "re-run as admin": run(kubeconfig, namespace, inputs, "-vvv", "--diff", **user),
        "refused login": run(kubeconfig, namespace, inputs, "-vvv", **refused),
        "other client secret": run(
            kubeconfig,
            namespace,
            inputs,
            "-vvv",
            drop_secret=False,
            **dict(v, devpi_secrets_oauth2_client_secret="mismatch-" + secrets.token_urlsafe(12)),
        ),  # fmt: skip
    }
    assert [label for label, r in runs.items() if r.rc != 0] == ["refused login", "other client secret"]
    forms = forms_of([client_secret(SA), keycloak.admin_password, client.secret, "wrong-" * 4])
    found = {label: [f for f, value in forms.items() if value in r.output] for label, r in runs.items()}
    print(f"\n[keycloak] leaks: {len(runs)} runs at -vvv searched for {len(forms)} forms: {found}")
    assert all(hits == [] for hits in found.values()), found


LATE_ENTRY = """
import json, sys, urllib.request
url, realm, uuid, token = sys.argv[1:5]
def call(method, body=None):
    req = urllib.request.Request(f"{url}/admin/realms/{realm}/clients/{uuid}", method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as answer:
        return json.loads(answer.read() or b"null")
client = call("GET")
client["redirectUris"].append(sys.argv[5])
call("PUT", client)
"""


def test_an_entry_added_after_the_first_read_is_kept(keycloak, client, kubeconfig, namespace, inputs, tmp_path):
    """keycloak_client replaces the lists it is given: they are merged from a read taken right before the write. Here
    someone adds a redirect URI after the role's first read (the hook runs when the write phase starts)."""
    late = "https://late.theedgeworks.ai/oauth2/callback"
    script = tmp_path / "late_entry.py"
    script.write_text(LATE_ENTRY)
    hook = [sys.executable, str(script), keycloak.url, keycloak.realm, client.uuid, keycloak.admin_token(), late]
    env = ansible_env(
        ANSIBLE_CALLBACKS_ENABLED="devpi_capture,hardening_hooks",
        HARDENING_HOOK_TASK=WRITE_PHASE,
        HARDENING_HOOK_CMDS=json.dumps([hook]),
        HARDENING_HOOK_LOG=str(tmp_path / "hook.log"),
    )
    variables = dict(kc_vars(keycloak, client.client_id), devpi_secrets_oauth2_client_secret=UNSET)
    run_ = run_site(kubeconfig, namespace, inputs, extra=variables, env=env)
    assert run_.rc == 0, run_.output[-4000:]
    assert json.loads((tmp_path / "hook.log").read_text())["rc"] == 0, "the late entry was not added"
    after = client.read()["redirectUris"]
    assert late in after and CALLBACK in after, after


def _logins(keycloak, realm_admin_token) -> int:
    """CLIENT_LOGIN events of the role's service account so far (the realm stores login events, see `admin`)."""
    status, events = keycloak.request(
        "GET",
        f"/admin/realms/{keycloak.realm}/events?type=CLIENT_LOGIN&client={SA}&max=10000",
        token=keycloak.admin_token(),
    )
    assert status == 200, status
    return len(events)


def test_a_run_logs_in_to_keycloak_once(keycloak, admin, client, kubeconfig, namespace, inputs):
    status, _body = keycloak.request(
        "PUT",
        f"/admin/realms/{keycloak.realm}",
        token=keycloak.admin_token(),
        json_body={"eventsEnabled": True, "enabledEventTypes": ["CLIENT_LOGIN"]},
    )
    assert status == 204, status
    v = kc_vars(keycloak, client.client_id)
    before = _logins(keycloak, admin)
    first = run(kubeconfig, namespace, inputs, **v)  # reads, reads again, writes the client
    assert first.rc == 0 and client.writes() == 1, first.output[-4000:]
    middle = _logins(keycloak, admin)
    again = run(kubeconfig, namespace, inputs, **v)  # reads only
    assert again.rc == 0 and again.recap["changed"] == 0, again.output[-4000:]
    assert (middle - before, _logins(keycloak, admin) - middle) == (1, 1)


def test_audit_finds_a_missing_redirect_uri_and_writes_nothing_to_keycloak_or_the_cluster(
    keycloak, client, kubeconfig, namespace, inputs, tmp_path
):
    """devpi_secrets_audit: a converged client passes; once someone removes the redirect URI, the audit fails naming
    the client and the reason in its report, and neither Keycloak (admin events) nor the cluster gets a write."""
    v = kc_vars(keycloak, client.client_id)
    assert run(kubeconfig, namespace, inputs, **v).rc == 0
    path = tmp_path / "textfile" / "devpi.json"
    path.parent.mkdir()
    # the test leaf lasts 7 days: a 1-day warning window keeps the certificate out of the findings
    audit_vars = dict(v, devpi_secrets_audit=True, devpi_secrets_audit_report=str(path))
    audit_vars["devpi_secrets_tls_expiry_warning_days"] = 1
    writes0, kc0 = api_writes(kubeconfig), client.writes()
    passed = run(kubeconfig, namespace, inputs, **audit_vars)
    assert passed.rc == 0, passed.output[-4000:]
    assert json.loads(path.read_text())["ok"] is True

    body = client.read()
    body["redirectUris"] = [uri for uri in body["redirectUris"] if uri != CALLBACK]
    status, _body = keycloak.request("PUT", f"/admin/realms/{keycloak.realm}/clients/{client.uuid}",
                                     token=keycloak.admin_token(), json_body=body)  # fmt: skip
    assert status == 204, status
    kc1 = client.writes()
    assert kc1 == kc0 + 1
    failed = run(kubeconfig, namespace, inputs, **audit_vars)
    assert failed.rc != 0
    assert client.writes() == kc1 and CALLBACK not in client.read()["redirectUris"]
    assert writes_between(writes0, api_writes(kubeconfig)) == {}
    report = json.loads(path.read_text())
    assert {(f["entry"], f["reason"]) for f in report["findings"]} == {
        (client.client_id, "keycloak_redirect_uri_missing")
    }
    assert failed.captured["localhost"]["audit"] == report
    assert client.secret not in failed.output + path.read_text() + path.with_suffix(".prom").read_text()
