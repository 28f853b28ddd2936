"""The generated basic-auth password lives in a Secret of its own, never next to its hash.

devpi-basic-auth is what ingress-nginx reads: it holds exactly `auth` (as in the seed). Whoever may read it must
not get a working credential, and with `auth-secret-type: auth-map` every key would be a user. The generated
password goes to devpi-basic-auth-client (type kubernetes.io/basic-auth, keys username and password), for pip,
twine and CI. Secrets of 1.0.0 (password inside devpi-basic-auth) are migrated without losing the password.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess

import pytest

from helpers.kube import apply_manifest, kubectl, kubectl_json
from helpers.secret_data import dec, htpasswd_verifies
from helpers.site import BASE_SECRET_NAMES, CLIENT_SECRET, api_writes, run_site, writes_between

pytestmark = pytest.mark.integration


def secret(kubeconfig, namespace, name):
    found = kubectl_json("get", "secrets", "-n", namespace, kubeconfig=kubeconfig)["items"]
    return next((s for s in found if s["metadata"]["name"] == name), None)


def test_generated_password_lives_in_its_own_basic_auth_secret(kubeconfig, namespace, inputs):
    run = run_site(kubeconfig, namespace, inputs)
    assert run.rc == 0, run.output[-4000:]
    basic = secret(kubeconfig, namespace, "devpi-basic-auth")
    client = secret(kubeconfig, namespace, CLIENT_SECRET)
    assert set(basic["data"]) == {"auth"}
    assert client is not None, "no client Secret was written"
    assert client["type"] == "kubernetes.io/basic-auth" and set(client["data"]) == {"username", "password"}
    assert dec(client, "username") == b"pypi-user"
    assert len(dec(client, "password")) >= 32 and htpasswd_verifies(dec(client, "password"), dec(basic, "auth"))
    assert client["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "theedgeworks.devpi"
    assert {i["name"]: i["action"] for i in run.report} == dict.fromkeys((*BASE_SECRET_NAMES, CLIENT_SECRET), "created")

    rotated = run_site(kubeconfig, namespace, inputs, extra={"devpi_secrets_rotate": ["devpi-basic-auth"]})
    assert rotated.rc == 0, rotated.output[-4000:]
    assert rotated.action("devpi-basic-auth") == "rotated" and rotated.action(CLIENT_SECRET) == "rotated"
    new_client = secret(kubeconfig, namespace, CLIENT_SECRET)
    assert dec(new_client, "password") != dec(client, "password")
    assert htpasswd_verifies(
        dec(new_client, "password"), dec(secret(kubeconfig, namespace, "devpi-basic-auth"), "auth")
    )


def as_1_0_0_left_it(kubeconfig, namespace, inputs) -> tuple[str, str]:
    """A first run, then the layout of release 1.0.0: the generated password in devpi-basic-auth, no client Secret."""
    assert run_site(kubeconfig, namespace, inputs).rc == 0
    kubectl("delete", "secret", CLIENT_SECRET, "-n", namespace, kubeconfig=kubeconfig)
    password = base64.urlsafe_b64encode(os.urandom(24)).decode()  # as 1.0.0 generated it: 32 URL-safe characters
    line = subprocess.run(["htpasswd", "-Bbn", "pypi-user", password], capture_output=True, text=True, check=True)
    auth = line.stdout.strip() + "\n"
    data = {"auth": base64.b64encode(auth.encode()).decode(), "password": base64.b64encode(password.encode()).decode()}
    kubectl("patch", "secret", "devpi-basic-auth", "-n", namespace, "--type=merge", "-p", json.dumps({"data": data}),
            kubeconfig=kubeconfig)  # fmt: skip
    return password, auth


def test_secrets_of_1_0_0_are_migrated_without_losing_the_password(kubeconfig, namespace, inputs, tmp_path):
    """1.0.0 kept the generated password in devpi-basic-auth: it moves, unchanged, and the hash is kept."""
    password, auth = as_1_0_0_left_it(kubeconfig, namespace, inputs)

    run = run_site(kubeconfig, namespace, inputs)
    assert run.rc == 0, run.output[-4000:]
    basic = secret(kubeconfig, namespace, "devpi-basic-auth")
    client = secret(kubeconfig, namespace, CLIENT_SECRET)
    assert dec(client, "password").decode() == password, "the password changed on its way"
    assert set(basic["data"]) == {"auth"} and dec(basic, "auth").decode() == auth, "the hash was not kept"
    assert run.action(CLIENT_SECRET) == "created" and run.action("devpi-basic-auth") == "updated"
    again = run_site(kubeconfig, namespace, inputs)
    assert again.rc == 0 and again.recap["changed"] == 0


def test_migration_keeps_the_password_when_the_client_secret_cannot_be_created(
    kubeconfig, namespace, inputs, restricted_kubeconfig
):
    """Create first, then drop: a refused create leaves the password where it was."""
    password, _auth = as_1_0_0_left_it(kubeconfig, namespace, inputs)
    user = "no-create"
    rk = restricted_kubeconfig(user)
    rbac = [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": user, "namespace": namespace},
            "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "patch"]}],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": user, "namespace": namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": user},
            "subjects": [{"kind": "User", "name": user, "apiGroup": "rbac.authorization.k8s.io"}],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": f"{user}-{namespace}"},
            "rules": [{"apiGroups": [""], "resources": ["namespaces"], "resourceNames": [namespace], "verbs": ["get"]}],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": f"{user}-{namespace}"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": f"{user}-{namespace}"},
            "subjects": [{"kind": "User", "name": user, "apiGroup": "rbac.authorization.k8s.io"}],
        },
    ]
    apply_manifest(rbac, kubeconfig=kubeconfig, verb=("apply",))
    before = api_writes(kubeconfig)
    run = run_site(rk, namespace, inputs, extra={"devpi_secrets_create_namespace": False})
    writes = writes_between(before, api_writes(kubeconfig))
    assert run.rc != 0, "the refused create was not reported"
    basic = secret(kubeconfig, namespace, "devpi-basic-auth")
    assert dec(basic, "password").decode() == password, f"the password was dropped before it moved ({writes})"
    assert secret(kubeconfig, namespace, CLIENT_SECRET) is None
    kubectl("delete", "clusterrole,clusterrolebinding", f"{user}-{namespace}", kubeconfig=kubeconfig, check=False)


def test_given_password_writes_no_client_secret_and_names_one_left_from_before(kubeconfig, namespace, inputs):
    assert run_site(kubeconfig, namespace, inputs).rc == 0
    left = secret(kubeconfig, namespace, CLIENT_SECRET)
    before = api_writes(kubeconfig)
    run = run_site(kubeconfig, namespace, inputs, extra={"devpi_secrets_basic_auth_password": "a given password"})
    assert run.rc == 0, run.output[-4000:]
    assert writes_between(before, api_writes(kubeconfig)) == {("PATCH", "secrets"): 1}  # devpi-basic-auth only
    assert secret(kubeconfig, namespace, CLIENT_SECRET)["data"] == left["data"], "deleting it is the user's call"
    (entry,) = [i for i in run.report if i["name"] == CLIENT_SECRET]
    assert entry["action"] == "unused" and "devpi_secrets_basic_auth_password" in entry["note"]
    assert [w for w in run.warnings if CLIENT_SECRET in w], run.warnings  # the Secret left from before is named

    fresh = run_site(
        kubeconfig, namespace + "x", inputs, extra={"devpi_secrets_basic_auth_password": "given-by-the-user"}
    )
    assert fresh.rc == 0 and secret(kubeconfig, namespace + "x", CLIENT_SECRET) is None
    assert CLIENT_SECRET not in [i["name"] for i in fresh.report]
    kubectl("delete", "namespace", namespace + "x", "--wait=false", kubeconfig=kubeconfig)


def test_an_invalid_stored_password_is_regenerated_with_a_warning(kubeconfig, namespace, inputs):
    """As for devpi-secret and cookie-secret: a stored generated value that is not valid is replaced, and said so."""
    assert run_site(kubeconfig, namespace, inputs).rc == 0
    broken = {"data": {"password": base64.b64encode(b"edited by hand").decode()}}
    kubectl("patch", "secret", CLIENT_SECRET, "-n", namespace, "--type=merge", "-p", json.dumps(broken),
            kubeconfig=kubeconfig)  # fmt: skip
    run = run_site(kubeconfig, namespace, inputs)
    assert run.rc == 0, run.output[-4000:]
    assert run.action(CLIENT_SECRET) == "updated" and run.action("devpi-basic-auth") == "updated"
    (warning,) = [w for w in run.warnings if CLIENT_SECRET in w]
    # Invalid for a password: it does not verify against the stored hash (its form is irrelevant).
    assert "verifies against the hash in devpi-basic-auth and was regenerated" in warning
    assert "pip, twine and CI" in warning
    client = secret(kubeconfig, namespace, CLIENT_SECRET)
    assert htpasswd_verifies(dec(client, "password"), dec(secret(kubeconfig, namespace, "devpi-basic-auth"), "auth"))


def test_a_working_1_0_0_password_of_another_form_moves_unchanged(kubeconfig, namespace, inputs):
    """A password is invalid when it breaks the password rules or does not verify against the stored hash; its form
    does not matter. A 1.0.0 password set by hand (not 32 URL-safe characters) that verifies moves unchanged."""
    assert run_site(kubeconfig, namespace, inputs).rc == 0
    kubectl("delete", "secret", CLIENT_SECRET, "-n", namespace, kubeconfig=kubeconfig)
    password = "correct horse battery staple"
    line = subprocess.run(["htpasswd", "-Bbn", "pypi-user", password], capture_output=True, text=True, check=True)
    auth = line.stdout.strip() + "\n"
    data = {"auth": base64.b64encode(auth.encode()).decode(), "password": base64.b64encode(password.encode()).decode()}
    kubectl("patch", "secret", "devpi-basic-auth", "-n", namespace, "--type=merge", "-p", json.dumps({"data": data}),
            kubeconfig=kubeconfig)  # fmt: skip

    run = run_site(kubeconfig, namespace, inputs)
    assert run.rc == 0, run.output[-4000:]
    assert dec(secret(kubeconfig, namespace, CLIENT_SECRET), "password").decode() == password
    assert dec(secret(kubeconfig, namespace, "devpi-basic-auth"), "auth").decode() == auth, "the hash was replaced"
    assert not [w for w in run.warnings if "regenerated" in w], run.warnings


def test_a_hand_set_client_password_that_verifies_is_kept(kubeconfig, namespace, inputs):
    """Someone set the client password and its hash by hand (both Secrets agree): nothing is written."""
    assert run_site(kubeconfig, namespace, inputs).rc == 0
    password = "set-by-hand-for-ci-2026"
    line = subprocess.run(["htpasswd", "-Bbn", "pypi-user", password], capture_output=True, text=True, check=True)
    auth = line.stdout.strip() + "\n"
    hashed = {"data": {"auth": base64.b64encode(auth.encode()).decode()}}
    kubectl("patch", "secret", "devpi-basic-auth", "-n", namespace, "--type=merge", "-p", json.dumps(hashed),
            kubeconfig=kubeconfig)  # fmt: skip
    kubectl("patch", "secret", CLIENT_SECRET, "-n", namespace, "--type=merge", "-p",
            json.dumps({"data": {"password": base64.b64encode(password.encode()).decode()}}),
            kubeconfig=kubeconfig)  # fmt: skip
    before = api_writes(kubeconfig)
    run = run_site(kubeconfig, namespace, inputs)
    assert run.rc == 0, run.output[-4000:]
    assert writes_between(before, api_writes(kubeconfig)) == {}
    assert run.action(CLIENT_SECRET) == "kept" and run.action("devpi-basic-auth") == "kept"
    assert dec(secret(kubeconfig, namespace, CLIENT_SECRET), "password").decode() == password
