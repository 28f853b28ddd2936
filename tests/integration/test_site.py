"""site.yml against a real Kubernetes API server: first run, re-run, rotation, adoption, check mode, types."""

from __future__ import annotations

import base64
import json
import subprocess

import pytest

from helpers.kube import kubectl
from helpers.secret_data import bcrypt_verifies, dec, htpasswd_verifies
from helpers.site import (
    BASE_SECRET_NAMES,
    CLIENT_SECRET,
    SECRET_NAMES,
    api_writes,
    create_opaque_tls,
    data_of,
    read_secrets,
    resource_versions,
    run_site,
    writes_between,
)

pytestmark = pytest.mark.integration


def assert_ok(run, changed=None):
    assert run.rc == 0, run.output[-6000:]
    if changed is not None:
        assert run.recap.get("changed") == changed, run.output[-6000:]


def check_formats(secrets: dict, inputs, user="pypi-user", generated_password=True):
    assert set(secrets) == set(SECRET_NAMES if generated_password else BASE_SECRET_NAMES)
    tls, sec, oauth, basic = (secrets[n] for n in BASE_SECRET_NAMES)
    assert tls["type"] == "kubernetes.io/tls"
    assert dec(tls, "tls.crt") == inputs.cert_file.read_bytes()
    assert dec(tls, "tls.key") == inputs.key_file.read_bytes()
    assert sec["type"] == "Opaque" and set(sec["data"]) == {"secret"}
    raw = dec(sec, "secret")
    assert len(raw) == 44 and len(base64.b64decode(raw, validate=True)) == 32
    assert set(oauth["data"]) == {"client-id", "client-secret", "cookie-secret"}
    assert dec(oauth, "client-id") == b"theedgeworks"
    assert dec(oauth, "client-secret").decode() == inputs.client_secret
    cookie = dec(oauth, "cookie-secret")
    assert len(cookie) == 44 and b"+" not in cookie and b"/" not in cookie
    assert len(base64.urlsafe_b64decode(cookie)) == 32
    assert set(basic["data"]) == {"auth"}
    auth = dec(basic, "auth").decode()
    lines = [line for line in auth.split("\n") if line]
    assert auth.endswith("\n") and len(lines) == 1, auth.count("\n")
    name, _sep, hashed = lines[0].partition(":")
    assert name == user and hashed.startswith("$2y$05$")
    for obj in secrets.values():
        labels = obj["metadata"].get("labels", {})
        assert labels.get("app.kubernetes.io/part-of") == "devpi"
        assert labels.get("app.kubernetes.io/managed-by") == "theedgeworks.devpi"
        assert "kubectl.kubernetes.io/last-applied-configuration" not in obj["metadata"].get("annotations", {})
    return hashed


#: argument validation, plan, its check, the skipped write phase, summary, report, warnings, refusals, audit, forget
RERUN_TASKS = 10


def test_first_run_creates_everything_and_rerun_changes_nothing(kubeconfig, namespace, inputs):
    before = api_writes(kubeconfig)
    first = run_site(kubeconfig, namespace, inputs)
    assert_ok(first, changed=1)  # one task sends every write
    created = writes_between(before, api_writes(kubeconfig))
    assert created == {("POST", "namespaces"): 1, ("POST", "secrets"): len(SECRET_NAMES)}, created

    secrets = read_secrets(kubeconfig, namespace)
    hashed = check_formats(secrets, inputs)
    client = secrets[CLIENT_SECRET]
    assert client["type"] == "kubernetes.io/basic-auth" and dec(client, "username") == b"pypi-user"
    password = dec(client, "password")
    assert len(password) >= 32
    assert bcrypt_verifies(password, hashed)
    ns = json.loads(kubectl("get", "ns", namespace, "-o", "json", kubeconfig=kubeconfig).stdout)
    assert ns["metadata"]["labels"]["app.kubernetes.io/part-of"] == "devpi"

    versions = resource_versions(kubeconfig, namespace)
    before = api_writes(kubeconfig)
    second = run_site(kubeconfig, namespace, inputs)
    assert_ok(second, changed=0)
    assert writes_between(before, api_writes(kubeconfig)) == {}
    # Each task costs 10-30 ms however little it does (profile_tasks): a re-run decides in one step and skips the write
    # phase in one task. Its tasks, skipped ones and the argument validation included:
    assert second.recap["ok"] + second.recap["skipped"] <= RERUN_TASKS, second.recap
    again = read_secrets(kubeconfig, namespace)
    assert data_of(again) == data_of(secrets)
    assert resource_versions(kubeconfig, namespace) == versions


@pytest.mark.parametrize("name", ["devpi-secret", "devpi-oauth2-proxy-secret", "devpi-basic-auth"])
def test_rotating_one_secret_changes_only_it(kubeconfig, namespace, inputs, name):
    assert_ok(run_site(kubeconfig, namespace, inputs))
    before_data = data_of(read_secrets(kubeconfig, namespace))
    before_rv = resource_versions(kubeconfig, namespace)
    writes0 = api_writes(kubeconfig)

    run = run_site(kubeconfig, namespace, inputs, extra={"devpi_secrets_rotate": [name]})
    assert_ok(run, changed=1)
    # The generated basic-auth password lives in the client Secret: both change together.
    rotated = {name, CLIENT_SECRET} if name == "devpi-basic-auth" else {name}
    assert writes_between(writes0, api_writes(kubeconfig)) == {("PATCH", "secrets"): len(rotated)}
    after = read_secrets(kubeconfig, namespace)
    check_formats(after, inputs)
    after_data = data_of(after)
    for other in SECRET_NAMES:
        if other in rotated:
            assert after_data[other] != before_data[other]
        else:
            assert after_data[other] == before_data[other]
            assert after[other]["metadata"]["resourceVersion"] == before_rv[other]
    if name == "devpi-oauth2-proxy-secret":
        changed = {k for k in after_data[name] if after_data[name][k] != before_data[name][k]}
        assert changed == {"cookie-secret"}
    if name == "devpi-basic-auth":
        new_pw = dec(after[CLIENT_SECRET], "password")
        assert new_pw != base64.b64decode(before_data[CLIENT_SECRET]["password"])
        assert htpasswd_verifies(new_pw, dec(after[name], "auth"))
    assert {item["name"]: item["action"] for item in run.report} == {
        other: ("rotated" if other in rotated else "kept") for other in SECRET_NAMES
    }


def test_rotate_all_then_rerun_is_quiet(kubeconfig, namespace, inputs):
    assert_ok(run_site(kubeconfig, namespace, inputs))
    before = data_of(read_secrets(kubeconfig, namespace))
    assert_ok(run_site(kubeconfig, namespace, inputs, extra={"devpi_secrets_rotate": "all"}), changed=1)
    after = data_of(read_secrets(kubeconfig, namespace))
    assert after["devpi-tls"] == before["devpi-tls"]
    assert all(after[n] != before[n] for n in SECRET_NAMES[1:])
    assert_ok(run_site(kubeconfig, namespace, inputs), changed=0)


def test_adopts_secrets_made_with_the_seed_commands(kubeconfig, namespace, inputs, tmp_path):
    """The manual procedure's kubectl commands first, then the role: values kept, cookie-secret repaired."""
    ns = ["-n", namespace]
    kubectl("create", "namespace", namespace, kubeconfig=kubeconfig)
    kubectl(
        "create",
        "secret",
        "tls",
        "devpi-tls",
        *ns,
        f"--cert={inputs.cert_file}",
        f"--key={inputs.key_file}",
        kubeconfig=kubeconfig,
    )
    seed_secret = base64.b64encode(bytes(range(32))).decode()
    kubectl(
        "create",
        "secret",
        "generic",
        "devpi-secret",
        *ns,
        f"--from-literal=secret={seed_secret}",
        kubeconfig=kubeconfig,
    )
    cookie_bytes = bytes([0xFB, 0xFF, 0xBF] * 10 + [1, 2])  # standard base64 with '+' and '/'
    seed_cookie = base64.b64encode(cookie_bytes).decode()
    assert "+" in seed_cookie and "/" in seed_cookie
    kubectl(
        "create",
        "secret",
        "generic",
        "devpi-oauth2-proxy-secret",
        *ns,
        "--from-literal=client-id=theedgeworks",
        f"--from-literal=client-secret={inputs.client_secret}",
        f"--from-literal=cookie-secret={seed_cookie}",
        kubeconfig=kubeconfig,
    )
    password = "correct horse battery staple 42"
    line = subprocess.run(["htpasswd", "-Bbn", "pypi-user", password], capture_output=True, text=True, check=True)
    auth_file = tmp_path / "auth"
    auth_file.write_text(line.stdout)
    kubectl(
        "create", "secret", "generic", "devpi-basic-auth", *ns, f"--from-file=auth={auth_file}", kubeconfig=kubeconfig
    )
    seed = read_secrets(kubeconfig, namespace)

    run = run_site(kubeconfig, namespace, inputs, extra={"devpi_secrets_basic_auth_password": password})
    assert_ok(run)
    # kubectl made them without the role's labels: "updated" (labels added), the values kept (checked below).
    assert {item["name"]: item["action"] for item in run.report} == {
        "devpi-tls": "updated",
        "devpi-secret": "updated",
        "devpi-oauth2-proxy-secret": "repaired",
        "devpi-basic-auth": "updated",
    }
    after = read_secrets(kubeconfig, namespace)
    check_formats(after, inputs, generated_password=False)
    assert dec(after["devpi-secret"], "secret").decode() == seed_secret
    assert base64.urlsafe_b64decode(dec(after["devpi-oauth2-proxy-secret"], "cookie-secret")) == cookie_bytes
    # htpasswd -B uses cost 5, like the role: the line is kept as it was.
    assert after["devpi-basic-auth"]["data"] == seed["devpi-basic-auth"]["data"]
    assert_ok(run_site(kubeconfig, namespace, inputs, extra={"devpi_secrets_basic_auth_password": password}), changed=0)


def test_given_password_is_authoritative(kubeconfig, namespace, inputs):
    assert_ok(run_site(kubeconfig, namespace, inputs))
    for password in ("first given password", "second given password"):
        run = run_site(kubeconfig, namespace, inputs, extra={"devpi_secrets_basic_auth_password": password})
        assert_ok(run, changed=1)
        basic = read_secrets(kubeconfig, namespace)["devpi-basic-auth"]
        assert set(basic["data"]) == {"auth"}
        assert htpasswd_verifies(password, dec(basic, "auth"))
    # Back to a generated password: the one the client Secret still holds (left alone meanwhile) is used again.
    assert_ok(run_site(kubeconfig, namespace, inputs), changed=1)
    secrets = read_secrets(kubeconfig, namespace)
    assert set(secrets["devpi-basic-auth"]["data"]) == {"auth"}
    password = dec(secrets[CLIENT_SECRET], "password")
    assert htpasswd_verifies(password, dec(secrets["devpi-basic-auth"], "auth"))


def test_check_mode_predicts_and_writes_nothing(kubeconfig, namespace, inputs):
    before = api_writes(kubeconfig)
    check = run_site(kubeconfig, namespace, inputs, "--check", "--diff")
    assert_ok(check, changed=1)
    assert writes_between(before, api_writes(kubeconfig)) == {}
    assert kubectl("get", "ns", namespace, "--ignore-not-found", "-o", "name", kubeconfig=kubeconfig).stdout == ""

    real = run_site(kubeconfig, namespace, inputs, "--diff")
    assert_ok(real, changed=check.recap["changed"])

    before = api_writes(kubeconfig)
    data = data_of(read_secrets(kubeconfig, namespace))
    rotate = run_site(
        kubeconfig, namespace, inputs, "--check", "--diff", extra={"devpi_secrets_rotate": ["devpi-secret"]}
    )
    assert_ok(rotate, changed=1)
    assert writes_between(before, api_writes(kubeconfig)) == {}
    assert data_of(read_secrets(kubeconfig, namespace)) == data
    (rotated,) = [item for item in rotate.report if item["action"] != "kept"]
    assert rotated["name"] == "devpi-secret" and set(rotated["changed_keys"]) == {"secret"}
    assert rotated["changed_keys"]["secret"]["after"].startswith("sha256:")
    quiet = run_site(kubeconfig, namespace, inputs, "--check", "--diff")
    assert_ok(quiet, changed=0)


def test_wrong_type_is_an_error_unless_replacing_is_allowed(kubeconfig, namespace, inputs):
    kubectl("create", "namespace", namespace, kubeconfig=kubeconfig)
    create_opaque_tls(kubeconfig, namespace, inputs)
    before = api_writes(kubeconfig)
    run = run_site(kubeconfig, namespace, inputs)
    assert run.rc != 0
    assert "devpi-tls has type" in run.output and "devpi_secrets_replace_wrong_type" in run.output
    assert writes_between(before, api_writes(kubeconfig)) == {}
    assert set(read_secrets(kubeconfig, namespace)) == {"devpi-tls"}

    run = run_site(kubeconfig, namespace, inputs, extra={"devpi_secrets_replace_wrong_type": True})
    assert_ok(run)
    check_formats(read_secrets(kubeconfig, namespace), inputs)
