"""Only its own Secrets: a Secret under a name the seed does not define is written only when it carries the label
app.kubernetes.io/managed-by=theedgeworks.devpi, or when the user asks to adopt it (devpi_secrets_adopt).

The seed's four names (devpi-tls, devpi-secret, devpi-oauth2-proxy-secret, devpi-basic-auth) are adopted as before:
the manual procedure made them without labels. The client Secret of a generated password is not one of them.
"""

from __future__ import annotations

import pytest
from hardening_support import failure_text

from helpers.kube import kubectl, kubectl_json
from helpers.site import CLIENT_SECRET, api_writes, make_inputs, run_site, writes_between

pytestmark = pytest.mark.integration

MANAGED_BY = "app.kubernetes.io/managed-by"


def _someone_elses(kubeconfig: str, namespace: str, name: str) -> dict:
    """A Secret of the right type and keys, made by someone else (no label)."""
    kubectl("create", "namespace", namespace, kubeconfig=kubeconfig)
    kubectl("create", "secret", "generic", name, "-n", namespace, "--type=kubernetes.io/basic-auth",
            "--from-literal=username=pypi-user", "--from-literal=password=belongs-to-another-team",
            kubeconfig=kubeconfig)  # fmt: skip
    return kubectl_json("get", "secret", name, "-n", namespace, kubeconfig=kubeconfig)


@pytest.mark.parametrize("client_name", [CLIENT_SECRET, "ci-pypi-login"])
def test_an_unlabelled_secret_under_a_name_the_seed_does_not_define_is_not_overwritten(
    kubeconfig, namespace, tmp_path, client_name
):
    inputs = make_inputs(tmp_path)
    theirs = _someone_elses(kubeconfig, namespace, client_name)
    before = api_writes(kubeconfig)
    run = run_site(kubeconfig, namespace, inputs, extra={"devpi_secrets_basic_auth_client_name": client_name})
    writes = writes_between(before, api_writes(kubeconfig))
    assert run.rc != 0, run.output[-3000:]
    after = kubectl_json("get", "secret", client_name, "-n", namespace, kubeconfig=kubeconfig)
    assert after["metadata"]["resourceVersion"] == theirs["metadata"]["resourceVersion"], "their Secret was written"
    assert writes == {}, f"a refused adoption must fail before the first write: {writes}"
    message = failure_text(run.output)
    assert client_name in message and "devpi_secrets_adopt" in message


def test_adoption_asked_for_takes_the_secret_over(kubeconfig, namespace, tmp_path):
    inputs = make_inputs(tmp_path)
    _someone_elses(kubeconfig, namespace, CLIENT_SECRET)
    run = run_site(kubeconfig, namespace, inputs, extra={"devpi_secrets_adopt": [CLIENT_SECRET]})
    assert run.rc == 0, run.output[-3000:]
    after = kubectl_json("get", "secret", CLIENT_SECRET, "-n", namespace, kubeconfig=kubeconfig)
    assert after["metadata"]["labels"][MANAGED_BY] == "theedgeworks.devpi"
    assert run.action(CLIENT_SECRET) == "updated"


def test_the_seeds_four_names_are_adopted_without_being_asked(kubeconfig, namespace, tmp_path):
    inputs = make_inputs(tmp_path)
    kubectl("create", "namespace", namespace, kubeconfig=kubeconfig)
    seed_value = "c2VlZHNlZWRzZWVkc2VlZHNlZWRzZWVkc2VlZHNlZWQ="  # as the seed's recipe makes it: base64 of 32 bytes
    kubectl("create", "secret", "generic", "devpi-secret", "-n", namespace, f"--from-literal=secret={seed_value}",
            kubeconfig=kubeconfig)  # fmt: skip
    run = run_site(kubeconfig, namespace, inputs)
    assert run.rc == 0, run.output[-3000:]
    after = kubectl_json("get", "secret", "devpi-secret", "-n", namespace, kubeconfig=kubeconfig)
    assert after["metadata"]["labels"][MANAGED_BY] == "theedgeworks.devpi"
