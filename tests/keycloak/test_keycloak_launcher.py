"""tools/keycloak.py and the test realm, for real (no mocks).

The realm and permission tests use the session Keycloak (the `keycloak` fixture of
tests/helpers/keycloak_fixture.py), which may also be an external one (KEYCLOAK_URL ...).
The lifecycle tests start and stop Keycloaks of their own.
"""

from __future__ import annotations

import io
import re
import stat
import subprocess
import sys
import tarfile

import pytest

from helpers.keycloak_fixture import REPO, client_secret, kc_tool

KEYCLOAK_PY = str(REPO / "tools" / "keycloak.py")
REALM = "theedgeworks"


def cli(state_dir, *args, timeout=900):
    return subprocess.run(
        [sys.executable, KEYCLOAK_PY, "--state-dir", str(state_dir), *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_realm_openid_configuration_has_the_issuer(keycloak):
    status, conf = keycloak.request("GET", f"/realms/{REALM}/.well-known/openid-configuration")
    assert status == 200, conf
    assert conf["issuer"] == f"{keycloak.url}/realms/{REALM}"
    assert conf["authorization_endpoint"] == f"{keycloak.url}/realms/{REALM}/protocol/openid-connect/auth"


def test_master_admin_gets_a_token_and_sees_the_realm(keycloak):
    token = keycloak.admin_token()
    status, realm = keycloak.request("GET", f"/admin/realms/{REALM}", token=token)
    assert status == 200, realm
    assert realm["realm"] == REALM and realm["enabled"] is True


def test_service_account_can_read_clients_but_not_users(keycloak):
    token = keycloak.token(REALM, client_id="devpi-bootstrap", client_secret=client_secret("devpi-bootstrap"))
    status, clients = keycloak.request("GET", f"/admin/realms/{REALM}/clients?clientId=theedgeworks", token=token)
    assert status == 200, clients
    assert [c["clientId"] for c in clients] == ["theedgeworks"]
    status, body = keycloak.request("GET", f"/admin/realms/{REALM}/users", token=token)
    assert status == 403, body


def test_realm_objects_are_as_documented(keycloak):
    token = keycloak.admin_token()

    def get(path):
        status, body = keycloak.request("GET", f"/admin/realms/{REALM}{path}", token=token)
        assert status == 200, (path, body)
        return body

    clients = {c["clientId"]: c for c in get("/clients")}
    app = clients["theedgeworks"]
    assert not app["publicClient"] and app["standardFlowEnabled"]
    assert app["redirectUris"] == ["https://other.theedgeworks.ai/oauth2/callback"]
    assert app["webOrigins"] == ["https://other.theedgeworks.ai"]
    assert clients["public-app"]["publicClient"] is True
    assert clients["no-standard-flow"]["standardFlowEnabled"] is False
    boot = clients["devpi-bootstrap"]
    assert boot["serviceAccountsEnabled"] and not boot["standardFlowEnabled"] and not boot["publicClient"]

    sa = get(f"/clients/{boot['id']}/service-account-user")
    realm_mgmt = clients["realm-management"]["id"]
    roles = sorted(r["name"] for r in get(f"/users/{sa['id']}/role-mappings/clients/{realm_mgmt}"))
    assert roles == ["manage-clients", "view-clients"]

    (dev,) = get("/users?username=dev&exact=true")
    assert dev["email"] == "dev@theedgeworks.ai" and dev["emailVerified"] is True
    assert dev["firstName"] and dev["lastName"] and dev["enabled"]
    assert dev.get("requiredActions", []) == []


def test_cli_up_writes_env_and_down_leaves_nothing(tmp_path):
    state = tmp_path / "kc"
    up = cli(state, "up")
    assert up.returncode == 0, up.stdout + up.stderr
    print(next((line for line in up.stdout.splitlines() if "keycloak ready in" in line), up.stdout))
    env_file = state / "env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    lines = env_file.read_text().splitlines()
    assert [line.split("=", 1)[0] for line in lines] == [
        "KEYCLOAK_URL",
        "KEYCLOAK_ADMIN_USERNAME",
        "KEYCLOAK_ADMIN_PASSWORD",
    ]
    env = dict(line.split("=", 1) for line in lines)
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", env["KEYCLOAK_URL"])
    assert len(env["KEYCLOAK_ADMIN_PASSWORD"]) >= 24

    again = cli(state, "up")  # idempotent: finds the running one
    assert again.returncode == 0 and "already running" in again.stdout, again.stdout + again.stderr
    assert cli(state, "status").returncode == 0

    kc = kc_tool.Keycloak(state)
    pid, port = kc.pid(), kc.port
    assert pid and kc_tool.pid_alive(pid) and kc_tool.port_open(port)

    down = cli(state, "down")
    assert down.returncode == 0 and "stopped" in down.stdout, down.stdout + down.stderr
    assert not kc_tool.pid_alive(pid)
    assert kc.jvm_pids() == []
    assert not kc_tool.port_open(port)
    assert not state.exists()
    assert cli(state, "status").returncode == 3


def test_crash_at_start_is_reported_with_the_log_tail(tmp_path):
    kc = kc_tool.Keycloak(tmp_path / "bad", extra_args=["--no-such-option"], ready_timeout=300)
    with pytest.raises(kc_tool.KeycloakError) as err:
        kc.up()
    msg = str(err.value)
    assert "exited during startup" in msg
    assert "--no-such-option" in msg.split("last lines of", 1)[1]  # the log tail, with Keycloak's complaint
    assert kc.pid() is None and kc.jvm_pids() == []
    assert not (tmp_path / "bad" / "env").exists()
    kc.down()
    assert not (tmp_path / "bad").exists()


def test_session_instance_is_ours(keycloak):
    kc = keycloak.launcher
    if kc is None:
        pytest.skip("KEYCLOAK_URL: the session uses an external Keycloak")
    assert kc.pid() is not None
    assert kc.env_file.read_text().startswith(f"KEYCLOAK_URL={keycloak.url}\n")


def _no_download(*_args, **_kwargs):
    raise AssertionError("a download was attempted")


def _write_fake_tarball(path):
    """A tar.gz laid out like the distribution (keycloak-<version>/bin/kc.sh), but not the committed bytes."""
    data = b"#!/bin/sh\nexit 0\n"
    member = tarfile.TarInfo(f"keycloak-{kc_tool.VERSION}/bin/kc.sh")
    member.size, member.mode = len(data), 0o755
    with tarfile.open(path, "w:gz") as tf:
        tf.addfile(member, io.BytesIO(data))


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DEVPI_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("DEVPI_KEYCLOAK_HOME", raising=False)
    monkeypatch.setattr(kc_tool, "_get", _no_download)
    return tmp_path


def test_a_cached_tarball_that_is_not_the_committed_one_is_refused_and_not_unpacked(empty_cache):
    _write_fake_tarball(empty_cache / kc_tool.TARBALL_URL.rsplit("/", 1)[1])
    with pytest.raises(kc_tool.KeycloakError):
        kc_tool.ensure_dist(log=lambda _line: None)
    assert not (empty_cache / f"keycloak-{kc_tool.VERSION}").exists()


def test_a_cached_unpacked_tree_that_is_not_the_committed_one_is_refused(empty_cache):
    kc_sh = empty_cache / f"keycloak-{kc_tool.VERSION}" / "bin" / "kc.sh"
    kc_sh.parent.mkdir(parents=True)
    kc_sh.write_text("#!/bin/sh\nexit 0\n")
    with pytest.raises(kc_tool.KeycloakError):
        kc_tool.ensure_dist(log=lambda _line: None)
