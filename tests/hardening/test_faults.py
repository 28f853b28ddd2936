"""Faults: a write refused for one Secret, a Secret changed between read and write (409), the API server gone.

Faults are injected deterministically: RBAC for the refused write, and for the others a test-only callback plugin
(callback_plugins/hardening_hooks.py) that runs a command synchronously when a named task of the role starts, i.e.
after the role's read and before its writes. Failing runs are at -vvv --diff and searched for secret values.
"""

from __future__ import annotations

import json
import secrets
import shutil
import sys

import pytest
from hardening_support import (
    APPS_RESOURCES,
    env_with_callback,
    failure_text,
    find_leaks,
    grant,
    rbac_objects,
    secret_values,
)

from helpers.kube import cluster, kubectl
from helpers.leaks import forms_of
from helpers.role_tasks import CHECK_THE_PLAN
from helpers.secret_data import dec, htpasswd_verifies
from helpers.site import (
    BASE_SECRET_NAMES,
    REPO,
    SECRET_NAMES,
    api_writes,
    make_inputs,
    read_secrets,
    run_site,
    writes_between,
)

pytestmark = pytest.mark.integration


def test_refused_write_names_the_secret_and_rerun_converges(kubeconfig, namespace, restricted_kubeconfig, tmp_path):
    """patch is granted on three Secrets by name, not on devpi-basic-auth: that one is reported, the others written."""
    inputs = make_inputs(tmp_path)
    assert run_site(kubeconfig, namespace, inputs).rc == 0
    user = "devpi-faulty"
    rk = restricted_kubeconfig(user)
    # With a given password the client Secret is not written: the others are the four base Secrets.
    others = [n for n in BASE_SECRET_NAMES if n != "devpi-basic-auth"]

    def rules(patchable):
        return {
            "namespaces": ["get"],
            "secrets": [],
            "secret_rules": [
                {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "create"]},
                {"apiGroups": [""], "resources": ["secrets"], "resourceNames": patchable, "verbs": ["patch"]},
                # what restarting the consumers needs (README's RBAC): the refused write stays the Secret's
                {"apiGroups": ["apps"], "resources": list(APPS_RESOURCES), "verbs": ["get", "list", "patch"]},
            ],
        }

    grant(kubeconfig, rbac_objects(user, namespace, rules(others)))
    password = "given-" + secrets.token_urlsafe(20)
    extra = {
        "devpi_secrets_labels": {"hardening.theedgeworks.ai/step": "two"},
        "devpi_secrets_oauth2_client_secret": "new-" + secrets.token_urlsafe(20),
        "devpi_secrets_basic_auth_password": password,
        "devpi_secrets_create_namespace": False,
    }
    before = read_secrets(kubeconfig, namespace)
    run = run_site(rk, namespace, inputs, "-vvv", "--diff", extra=extra)
    after_fail = read_secrets(kubeconfig, namespace)
    message = failure_text(run.output)
    print(f"\n[hardening] refused write: rc={run.rc}; message: {message[-600:]!r}")
    made = {f"made by the run #{i}": v for i, v in enumerate(x for x in run.values if len(x) >= 12)}
    leaks = find_leaks(run.output, secret_values(after_fail) | secret_values(before) | made)
    assert leaks == [], leaks
    assert run.rc != 0, run.output[-4000:]
    assert "devpi-basic-auth" in message and "forbidden" in message.lower(), message[-3000:]
    assert (
        after_fail["devpi-basic-auth"]["metadata"]["resourceVersion"]
        == (before["devpi-basic-auth"]["metadata"]["resourceVersion"])
    )
    for name in others:
        assert after_fail[name]["metadata"]["labels"].get("hardening.theedgeworks.ai/step") == "two", name
    assert (
        dec(after_fail["devpi-oauth2-proxy-secret"], "client-secret").decode()
        == (extra["devpi_secrets_oauth2_client_secret"])
    )

    grant(kubeconfig, rbac_objects(user, namespace, rules(list(SECRET_NAMES))))
    writes0 = api_writes(kubeconfig)
    again = run_site(rk, namespace, inputs, "-vvv", "--diff", extra=extra)
    writes = writes_between(writes0, api_writes(kubeconfig))
    print(f"[hardening] refused write, re-run after the grant: rc={again.rc}, writes={writes}")
    assert again.rc == 0, again.output[-4000:]
    assert writes == {("PATCH", "secrets"): 1}
    final = read_secrets(kubeconfig, namespace)
    for name in others:
        assert final[name]["data"] == after_fail[name]["data"], name
        assert final[name]["metadata"]["resourceVersion"] == after_fail[name]["metadata"]["resourceVersion"]
    assert htpasswd_verifies(password, dec(final["devpi-basic-auth"], "auth"))
    assert find_leaks(again.output, secret_values(final)) == []


def test_secret_changed_between_read_and_write_is_reported_not_overwritten(kubeconfig, namespace, tmp_path):
    """A label is added to devpi-secret after the role's read, before its write: the rotation must stop with 409."""
    inputs = make_inputs(tmp_path)
    assert run_site(kubeconfig, namespace, inputs).rc == 0
    before = read_secrets(kubeconfig, namespace)
    log = tmp_path / "hook.log"
    touch = [
        "kubectl",
        f"--kubeconfig={kubeconfig}",
        "-n",
        namespace,
        "label",
        "--overwrite",
        "secret",
        "devpi-secret",
        "hardening.theedgeworks.ai/touched=yes",
    ]
    env = env_with_callback(
        HARDENING_HOOK_TASK=CHECK_THE_PLAN, HARDENING_HOOK_CMDS=json.dumps([touch]), HARDENING_HOOK_LOG=str(log)
    )
    run = run_site(
        kubeconfig, namespace, inputs, "-vvv", "--diff", extra={"devpi_secrets_rotate": ["devpi-secret"]}, env=env
    )
    hook = [json.loads(line) for line in log.read_text().splitlines()]
    assert hook and hook[0]["rc"] == 0, hook
    after = read_secrets(kubeconfig, namespace)
    message = failure_text(run.output)
    print(f"\n[hardening] conflict: rc={run.rc}; message: {message[-600:]!r}")
    # The values in the cluster afterwards and every value the run generated, also the refused new devpi-secret.
    assert run.values, "the capture callback recorded no value"
    assert find_leaks(run.output, {**secret_values(after), **forms_of(run.values)}) == []
    assert after["devpi-secret"]["metadata"]["labels"].get("hardening.theedgeworks.ai/touched") == "yes"
    assert after["devpi-secret"]["data"] == before["devpi-secret"]["data"], "the changed Secret was overwritten"
    assert run.rc != 0, "the conflict was not reported:\n" + run.output[-4000:]
    assert "devpi-secret" in message and "changed by someone else" in message, message[-3000:]

    retry = run_site(kubeconfig, namespace, inputs, extra={"devpi_secrets_rotate": ["devpi-secret"]})
    assert retry.rc == 0, retry.output[-4000:]
    assert read_secrets(kubeconfig, namespace)["devpi-secret"]["data"] != before["devpi-secret"]["data"]


def test_api_server_gone_before_the_writes_is_reported(tmp_path):
    """A control plane of our own is stopped after the role's read, before its writes: the run must fail."""
    cp = cluster.ControlPlane(tmp_path / "cp", die_with_parent=True)
    try:
        cp.up()
    except cluster.ControlPlaneError as e:
        cp.down()
        pytest.fail(f"could not start a second control plane: {e}", pytrace=False)
    try:
        # `down` removes the state dir: keep a copy of the kubeconfig, so that the run meets a server that is gone
        # rather than a missing file.
        kc = str(tmp_path / "kubeconfig")
        shutil.copyfile(cp.kubeconfig, kc)
        inputs = make_inputs(tmp_path / "in")
        stop = [sys.executable, str(REPO / "tools" / "cluster.py"), "--state-dir", str(cp.state_dir), "down"]
        env = env_with_callback(
            HARDENING_HOOK_TASK=CHECK_THE_PLAN,
            HARDENING_HOOK_CMDS=json.dumps([stop]),
            HARDENING_HOOK_LOG=str(tmp_path / "hook.log"),
        )
        kubectl("create", "namespace", "devpi-gone", kubeconfig=kc)
        run = run_site(kc, "devpi-gone", inputs, "-vvv", extra={"devpi_secrets_create_namespace": False}, env=env)
        message = failure_text(run.output)
        print(f"\n[hardening] API server gone: rc={run.rc}; message: {message[-600:]!r}")
        assert run.rc != 0, "the run succeeded although nothing could be written:\n" + run.output[-4000:]
        # -vvv: every value the run generated or was given must still be absent from the output.
        key = inputs.key_file.read_text()
        values = [*run.values, inputs.client_secret, key, *(ln for ln in key.splitlines() if not ln.startswith("-"))]
        assert run.values, "the capture callback recorded no value"
        assert find_leaks(run.output, forms_of(values)) == []
        assert "devpi-tls" in message and "unknown error" not in message, message[-3000:]
        assert "Could not find or access" not in message, message[-3000:]
    finally:
        cp.down()
