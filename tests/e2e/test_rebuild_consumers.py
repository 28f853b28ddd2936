"""A lost cluster rebuilt from the encrypted copy, as its consumers see it: what was issued before the loss still works.

site.yml with devpi_secrets_backup_file bootstraps a namespace; devpi-server (with devpi-secret) issues a login
token, oauth2-proxy (with the cookie-secret, against a loopback OIDC provider) a session cookie. The namespace is
deleted and site.yml runs again with the same copy. Then devpi-server, restarted on the restored devpi-secret, still
accepts the token; oauth2-proxy, started on the restored cookie-secret, still accepts the session; pip with the
password from before the loss fetches a package through nginx checking the restored devpi-basic-auth (200).
"""

from __future__ import annotations

import secrets

import pytest

from helpers.backup import backup_vars, make_age_key, sops_env
from helpers.kube import delete_namespace
from helpers.secret_data import dec
from helpers.site import CLIENT_SECRET, make_inputs, read_secrets, run_site
from tests.e2e.drivers import devpi, nginx
from tests.e2e.drivers import oauth2_proxy as o2p
from tests.e2e.drivers.proc import LOOPBACK, http

pytestmark = pytest.mark.e2e


def _values(kubeconfig, namespace) -> dict:
    s = read_secrets(kubeconfig, namespace)
    oauth = s["devpi-oauth2-proxy-secret"]
    return {
        "secret": dec(s["devpi-secret"], "secret"),
        "client_id": dec(oauth, "client-id"),
        "client_secret": dec(oauth, "client-secret"),
        "cookie_secret": dec(oauth, "cookie-secret"),
        "password": dec(s[CLIENT_SECRET], "password").decode(),
        "auth": dec(s["devpi-basic-auth"], "auth"),
    }


def test_what_consumers_issued_before_the_loss_works_after_the_rebuild(
    kubeconfig, namespace, tmp_path, devpi_bins, nginx_bin, oauth2_proxy_bin, report
):
    inputs = make_inputs(tmp_path / "inputs")
    key = make_age_key(tmp_path / "keys")
    (tmp_path / "backup").mkdir(mode=0o700)
    variables = backup_vars(tmp_path / "backup" / "devpi.sops.yaml", key)
    env = sops_env()
    first = run_site(kubeconfig, namespace, inputs, extra=variables, env=env)
    assert first.rc == 0, first.output[-4000:]
    before = _values(kubeconfig, namespace)

    user, password = "alice", secrets.token_urlsafe(16)
    secretfile = devpi.write_secretfile(tmp_path / "etc-devpi", before["secret"], folder_mode=0o755, file_mode=0o400)
    idp = o2p.DummyOidc(before["client_id"].decode(), before["client_secret"].decode())
    server = devpi.DevpiServer(tmp_path / "devpi")
    with server, idp:
        server.init()
        server.start(secretfile)
        client = devpi.DevpiClient(tmp_path / "client")
        client("use", server.url)
        client("login", "root", f"--password={server.root_password}")
        client("user", "-c", user, f"password={password}")
        client("login", user, f"--password={password}")
        token = client.token(server.url, user)
        assert server.auth_status(token)[:2] == ["ok", user]
        with o2p.oauth2_proxy(
            before["client_id"], before["client_secret"], before["cookie_secret"], tmp_path / "o2p-before", idp.provider
        ) as proxy:
            session = o2p.login_session(proxy, idp)
        server.stop()

        # The cluster is lost; the same playbook with the same copy rebuilds it.
        assert delete_namespace(namespace, kubeconfig=kubeconfig, timeout=120)
        rebuilt = run_site(kubeconfig, namespace, inputs, extra=variables, env=env)
        assert rebuilt.rc == 0, rebuilt.output[-4000:]
        after = _values(kubeconfig, namespace)

        restored = devpi.write_secretfile(
            tmp_path / "etc-devpi-rebuilt", after["secret"], folder_mode=0o755, file_mode=0o400
        )
        server.start(restored)
        token_status = server.auth_status(token)
        assert token_status[:2] == ["ok", user], token_status

        with o2p.oauth2_proxy(
            after["client_id"], after["client_secret"], after["cookie_secret"], tmp_path / "o2p-after", idp.provider
        ) as proxy:
            assert proxy.started, proxy.output
            userinfo = http(f"http://{LOOPBACK}:{proxy.port}/oauth2/userinfo", headers={"Cookie": session})
            assert userinfo.status == 200, userinfo.body[:200]

    with devpi.devpi_stack(after["secret"], tmp_path / "stack") as stack:
        pip = nginx.check_pip_through_nginx(after["auth"], before["password"], stack, tmp_path / "proxy")
    report(
        "rebuild from the encrypted copy",
        {
            "devpi login token from before": token_status[0],
            "oauth2-proxy session from before (/oauth2/userinfo)": userinfo.status,
            "pip with the password from before, through nginx": pip,
        },
    )
