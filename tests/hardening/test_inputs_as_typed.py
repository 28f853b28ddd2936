"""Inputs mean what a user means: values typed with `-e name=value` are strings, relative paths have one rule.

`-e devpi_secrets_replace_wrong_type=false` is the string "false". ansible-core 2.17 reads a bare `when:` on it as
true (and deleted a hand-made Opaque devpi-tls), 2.19+ stops with a type error that names no variable. Every
boolean, integer and list the role takes must accept what Ansible's `type: bool`/`int`/`list` accepts, and anything
else must fail in validation naming the variable, before any write.

A relative devpi_secrets_tls_cert_file/_key_file is resolved once, against the playbook's directory, and the file
that was checked is the file that is written.
"""

from __future__ import annotations

import base64
import shutil

import pytest
from hardening_support import failure_text

from helpers.kube import kubectl, kubectl_json, namespace_exists
from helpers.site import REPO, api_writes, create_opaque_tls, make_inputs, run_site, writes_between

pytestmark = pytest.mark.integration


def _e(name: str, value: str) -> tuple[str, str]:
    """`-e name=value` as a user types it: the value arrives as a string."""
    return ("-e", f"{name}={value}")


def _uid(kubeconfig: str, namespace: str, name: str) -> str:
    return kubectl_json("get", "secret", name, "-n", namespace, kubeconfig=kubeconfig)["metadata"]["uid"]


@pytest.mark.parametrize("typed", ["false", "no", "0", "False"])
def test_replace_wrong_type_false_typed_on_the_command_line_deletes_nothing(kubeconfig, namespace, tmp_path, typed):
    inputs = make_inputs(tmp_path)
    kubectl("create", "namespace", namespace, kubeconfig=kubeconfig)
    create_opaque_tls(kubeconfig, namespace, inputs)
    uid = _uid(kubeconfig, namespace, "devpi-tls")
    before = api_writes(kubeconfig)
    run = run_site(kubeconfig, namespace, inputs, *_e("devpi_secrets_replace_wrong_type", typed))
    writes = writes_between(before, api_writes(kubeconfig))
    assert run.rc != 0, run.output[-3000:]
    assert _uid(kubeconfig, namespace, "devpi-tls") == uid, "the hand-made devpi-tls was deleted"
    assert ("DELETE", "secrets") not in writes and ("POST", "secrets") not in writes, writes
    assert "devpi_secrets_replace_wrong_type" in failure_text(run.output)


def test_replace_wrong_type_yes_typed_on_the_command_line_replaces(kubeconfig, namespace, tmp_path):
    inputs = make_inputs(tmp_path)
    kubectl("create", "namespace", namespace, kubeconfig=kubeconfig)
    create_opaque_tls(kubeconfig, namespace, inputs)
    run = run_site(kubeconfig, namespace, inputs, *_e("devpi_secrets_replace_wrong_type", "yes"))
    assert run.rc == 0, run.output[-3000:]
    assert run.action("devpi-tls") == "replaced"
    tls = kubectl_json("get", "secret", "devpi-tls", "-n", namespace, kubeconfig=kubeconfig)
    assert tls["type"] == "kubernetes.io/tls"


@pytest.mark.parametrize("typed", ["false", "no", "0"])
def test_create_namespace_false_typed_on_the_command_line_creates_nothing(kubeconfig, namespace, tmp_path, typed):
    inputs = make_inputs(tmp_path)
    before = api_writes(kubeconfig)
    run = run_site(kubeconfig, namespace, inputs, *_e("devpi_secrets_create_namespace", typed))
    writes = writes_between(before, api_writes(kubeconfig))
    assert run.rc != 0, run.output[-3000:]
    assert not namespace_exists(namespace, kubeconfig=kubeconfig), "the namespace was created"
    assert writes == {}, writes
    assert "devpi_secrets_create_namespace" in failure_text(run.output)


@pytest.mark.parametrize(
    ("name", "typed"),
    [
        ("devpi_secrets_create_namespace", "maybe"),
        ("devpi_secrets_replace_wrong_type", "2"),
        ("devpi_secrets_validate_certs", "sometimes"),
        ("devpi_secrets_basic_auth_cost", "five"),
        ("devpi_secrets_tls_expiry_warning_days", "soon"),
    ],
)
def test_a_typed_value_that_is_no_such_type_fails_in_validation_naming_it(kubeconfig, namespace, tmp_path, name, typed):
    inputs = make_inputs(tmp_path)
    before = api_writes(kubeconfig)
    run = run_site(kubeconfig, namespace, inputs, *_e(name, typed))
    assert run.rc != 0, run.output[-3000:]
    assert writes_between(before, api_writes(kubeconfig)) == {}
    assert name in failure_text(run.output)


def test_integers_and_lists_typed_on_the_command_line_are_used(kubeconfig, namespace, tmp_path):
    inputs = make_inputs(tmp_path)
    first = run_site(kubeconfig, namespace, inputs, *_e("devpi_secrets_basic_auth_cost", "6"))
    assert first.rc == 0, first.output[-3000:]
    auth = base64.b64decode(
        kubectl_json("get", "secret", "devpi-basic-auth", "-n", namespace, kubeconfig=kubeconfig)["data"]["auth"]
    )
    assert auth.split(b":", 1)[1].startswith(b"$2y$06$"), "the cost typed on the command line was not used"

    rotated = run_site(
        kubeconfig,
        namespace,
        inputs,
        *_e("devpi_secrets_basic_auth_cost", "6"),
        *_e("devpi_secrets_rotate", "devpi-secret,devpi-oauth2-proxy-secret"),
    )
    assert rotated.rc == 0, rotated.output[-3000:]
    actions = {item["name"]: item["action"] for item in rotated.report}
    assert actions["devpi-secret"] == "rotated" and actions["devpi-oauth2-proxy-secret"] == "rotated", actions
    assert actions["devpi-basic-auth"] == "kept", actions


def test_relative_tls_paths_are_resolved_against_the_playbook_directory(kubeconfig, namespace, tmp_path):
    """The checked file is the written file. 2.0.0 checked a relative path in the working directory and read it
    through Ansible's search path (the playbook's directory): here the working directory holds a broken pair under
    the same relative names (another certificate with the right key) and the playbook's directory the good one. The
    rule is the playbook's directory: the run checks and writes the good pair."""
    inputs = make_inputs(tmp_path / "real")
    decoy = make_inputs(tmp_path / "decoy")
    rel = f"tests-output-{namespace}"
    beside_playbook = REPO / rel
    workdir = tmp_path / "work"
    in_workdir = workdir / rel
    try:
        beside_playbook.mkdir()
        in_workdir.mkdir(parents=True)
        shutil.copy(inputs.cert_file, beside_playbook / "tls.crt")
        shutil.copy(inputs.key_file, beside_playbook / "tls.key")
        shutil.copy(decoy.cert_file, in_workdir / "tls.crt")  # not the certificate of this key
        shutil.copy(inputs.key_file, in_workdir / "tls.key")
        relative = type(inputs)(
            cert_file=f"{rel}/tls.crt", key_file=f"{rel}/tls.key", client_secret=inputs.client_secret, host=inputs.host
        )
        run = run_site(kubeconfig, namespace, relative, workdir=workdir, cwd=workdir)
        assert run.rc == 0, run.output[-3000:]
        tls = kubectl_json("get", "secret", "devpi-tls", "-n", namespace, kubeconfig=kubeconfig)
        assert base64.b64decode(tls["data"]["tls.crt"]) == inputs.cert_file.read_bytes()
        assert base64.b64decode(tls["data"]["tls.key"]) == inputs.key_file.read_bytes()
    finally:
        shutil.rmtree(beside_playbook, ignore_errors=True)
