"""Errors carry no values: text from the API server is scrubbed of every known secret value before it is printed.

An admission policy can echo request fields in its message. Here a ValidatingAdmissionPolicy (built into the API
server, no webhook needed) refuses every write of a Secret in one namespace with a message that quotes the Secret's
data - as a careless or hostile webhook would. The run must fail naming the Secret and the refusal, and no value it
sent (read from the test callback, so also the values that never reached the cluster) may appear in its output, in
any form (plain, base64, URL-safe base64). Both refusals are provoked: of the updates (a rotation; the message
quotes the new data) and of the DELETE of a wrong-type devpi-tls being replaced (it quotes the old data).
"""

from __future__ import annotations

import secrets
import time

import pytest
from hardening_support import failure_text, find_leaks

from helpers.kube import apply_manifest, kubectl
from helpers.kube import echoing_policy as policy_objects
from helpers.leaks import forms_of
from helpers.site import api_writes, create_opaque_tls, make_inputs, run_site

pytestmark = pytest.mark.integration


@pytest.fixture
def echoing_policy(kubeconfig, namespace):
    name = f"echo-{namespace}"
    objs = policy_objects(name, [namespace])

    def install():
        apply_manifest(objs, kubeconfig=kubeconfig, verb=("apply",))

    def remove():
        kubectl(
            "delete",
            "validatingadmissionpolicybinding,validatingadmissionpolicy",
            name,
            "--ignore-not-found",
            kubeconfig=kubeconfig,
        )

    install.remove = remove
    yield install
    remove()


def test_an_api_error_quoting_the_data_is_scrubbed(kubeconfig, namespace, tmp_path, echoing_policy):
    inputs = make_inputs(tmp_path)
    assert run_site(kubeconfig, namespace, inputs).rc == 0
    echoing_policy()
    new_client_secret = "client-" + secrets.token_urlsafe(24)
    extra = {"devpi_secrets_rotate": "all", "devpi_secrets_oauth2_client_secret": new_client_secret}
    for _attempt in range(20):  # the policy takes effect within a second or two
        run = run_site(kubeconfig, namespace, inputs, "-vvv", "--diff", extra=extra)
        if "refused" in run.output:
            break
    message = failure_text(run.output)
    print(f"\n[hardening] scrubbing: rc={run.rc}; message: {message[-700:]!r}")
    assert run.rc != 0
    assert "ValidatingAdmissionPolicy" in message and "devpi-secret" in message, message[-3000:]
    values = [*run.values, new_client_secret, inputs.client_secret, inputs.key_file.read_text()]
    values += [line for line in inputs.key_file.read_text().splitlines() if not line.startswith("-----")]
    leaks = find_leaks(run.output, forms_of(values))
    assert leaks == [], leaks
    errors = [item["error"] for item in run.report if "error" in item]
    assert errors and all(len(error) <= 300 for error in errors), "an error from the API server is not capped"

    # The policy quotes the old data of a DELETE too: make devpi-tls a hand-made Opaque Secret (with the policy lifted,
    # it refuses that as well) and let the role replace it. The DELETE must reach the API server and be refused; the
    # old tls.key it quotes must not reach the output.
    echoing_policy.remove()
    for _attempt in range(40):  # the removal takes effect within a second or two, too
        gone = kubectl("delete", "secret", "devpi-tls", "-n", namespace, kubeconfig=kubeconfig, check=False)
        if gone.returncode == 0:
            break
        time.sleep(0.5)
    create_opaque_tls(kubeconfig, namespace, inputs)
    echoing_policy()
    for _attempt in range(40):
        probe = kubectl("delete", "secret", "devpi-tls", "-n", namespace, "--dry-run=server", kubeconfig=kubeconfig,
                        check=False)  # fmt: skip
        if "refused" in probe.stderr:
            break
        time.sleep(0.5)
    deletes = api_writes(kubeconfig)[("DELETE", "secrets")]
    run = run_site(kubeconfig, namespace, inputs, "-vvv", "--diff", extra={"devpi_secrets_replace_wrong_type": True})
    message = failure_text(run.output)
    print(f"[hardening] scrubbing (delete): rc={run.rc}; message: {message[-700:]!r}")
    assert run.rc != 0
    assert api_writes(kubeconfig)[("DELETE", "secrets")] - deletes >= 1, "the wrong-type devpi-tls was never deleted"
    assert "devpi-tls" in message and "ValidatingAdmissionPolicy" in message, message[-3000:]
    values = [*run.values, inputs.client_secret, inputs.key_file.read_text()]
    values += [line for line in inputs.key_file.read_text().splitlines() if not line.startswith("-----")]
    assert find_leaks(run.output, forms_of(values)) == []
