"""Which kubeconfigs the standard-library read takes (plugin_utils/_kube_read.py), and what it reads from them.

Everything it does not understand exactly as the kubernetes client would must go to the client (NotSimple).
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml

from ansible_collections.theedgeworks.devpi.plugins.plugin_utils._kube_read import NotSimple, simple_config

CA = b"-----BEGIN CERTIFICATE-----\nca\n-----END CERTIFICATE-----\n"
CERT = b"-----BEGIN CERTIFICATE-----\nclient\n-----END CERTIFICATE-----\n"
KEY = b"-----BEGIN PRIVATE KEY-----\nkey\n-----END PRIVATE KEY-----\n"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _config(cluster: dict | None = None, user: dict | None = None, **top) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "c",
                "cluster": cluster or {"server": "https://10.0.0.1:6443", "certificate-authority-data": b64(CA)},
            }
        ],
        "users": [{"name": "u", "user": user or {"client-certificate-data": b64(CERT), "client-key-data": b64(KEY)}}],
        "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u", "namespace": "x"}}],
        "current-context": "ctx",
        **top,
    }


def _write(tmp_path: Path, config: dict) -> str:
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def test_inline_certificates_go_to_memory_files(tmp_path):
    conn = simple_config(_write(tmp_path, _config()), environ={})
    assert (conn["host"], conn["port"], conn["verify"], conn["token"]) == ("10.0.0.1", 6443, True, "")
    for field, content in (("ca_file", CA), ("cert_file", CERT), ("key_file", KEY)):
        assert conn[field].startswith("/proc/self/fd/")
        assert Path(conn[field]).read_bytes() == content
    assert not [p for p in tmp_path.iterdir() if p.name != "kubeconfig"]


def test_files_are_relative_to_the_kubeconfig_and_a_token_file_is_read(tmp_path):
    (tmp_path / "ca.crt").write_bytes(CA)
    (tmp_path / "token").write_text("t0ken\n")
    cluster = {"server": "https://api.example:443", "certificate-authority": "ca.crt"}
    conn = simple_config(_write(tmp_path, _config(cluster, {"tokenFile": "token"})), environ={})
    assert conn["ca_file"] == str(tmp_path / "ca.crt")
    assert (conn["token"], conn["cert_file"], conn["port"]) == ("t0ken", "", 443)


def test_context_and_kubeconfig_variable(tmp_path):
    config = _config()
    config["contexts"].append({"name": "other", "context": {"cluster": "c", "user": "u"}})
    path = _write(tmp_path, config)
    assert simple_config("", "other", environ={"KUBECONFIG": path})["host"] == "10.0.0.1"
    with pytest.raises(NotSimple):
        simple_config(path, "missing", environ={})


def test_insecure_or_unchecked_needs_no_authority(tmp_path):
    cluster = {"server": "https://10.0.0.1", "insecure-skip-tls-verify": True}
    assert simple_config(_write(tmp_path, _config(cluster)), environ={})["verify"] is False
    cluster = {"server": "https://10.0.0.1"}
    assert simple_config(_write(tmp_path, _config(cluster)), validate_certs=False, environ={})["verify"] is False


@pytest.mark.parametrize(
    "change",
    [
        {"user": {"exec": {"command": "aws", "apiVersion": "client.authentication.k8s.io/v1"}}},
        {"user": {"auth-provider": {"name": "oidc"}}},
        {"user": {"username": "a", "password": "b"}},
        {"user": {"token": "t", "as": "someone"}},
        {"cluster": {"server": "http://10.0.0.1:8080"}},
        {"cluster": {"server": "https://10.0.0.1/prefix", "certificate-authority-data": "Q0E="}},
        {"cluster": {"server": "https://10.0.0.1", "certificate-authority-data": "Q0E=", "proxy-url": "http://p:3128"}},
        {"cluster": {"server": "https://10.0.0.1", "certificate-authority-data": "Q0E=", "tls-server-name": "k"}},
        {"cluster": {"server": "https://10.0.0.1"}},  # no authority: the client would use certifi's bundle
        {"cluster": {"server": "https://10.0.0.1", "certificate-authority-data": "not base64!"}},
    ],
)
def test_what_only_the_client_understands(tmp_path, change):
    with pytest.raises(NotSimple):
        simple_config(_write(tmp_path, _config(**change)), environ={})


@pytest.mark.parametrize(
    "environ",
    [
        {"K8S_AUTH_HOST": "https://elsewhere"},
        {"K8S_AUTH_KUBECONFIG": "/x"},
        {"HTTPS_PROXY": "http://proxy:3128"},
        {"https_proxy": "http://proxy:3128"},
        {"KUBECONFIG": "/a:/b"},
    ],
)
def test_the_environment_can_send_it_to_the_client(tmp_path, environ):
    path = _write(tmp_path, _config())
    with pytest.raises(NotSimple):
        simple_config("" if "KUBECONFIG" in environ else path, environ=environ)


def test_a_missing_kubeconfig_goes_to_the_client(tmp_path):
    # in a pod (AWX), without a kubeconfig, the client reads the service account
    with pytest.raises(NotSimple):
        simple_config(str(tmp_path / "absent"), environ={})
