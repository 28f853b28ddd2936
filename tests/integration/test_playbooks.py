"""The demo inputs playbook and the bootstrap example, as users run them."""

from __future__ import annotations

import json

import pytest
import yaml

from helpers.kube import delete_namespace, kubectl
from helpers.site import (
    SECRET_NAMES,
    api_writes,
    create_opaque_tls,
    looped_include_play,
    read_secrets,
    run_playbook,
    run_site,
    writes_between,
)

pytestmark = pytest.mark.integration


def test_demo_inputs_then_bootstrap_example(kubeconfig, namespace, tmp_path):
    demo = tmp_path / "demo"
    run = run_playbook("playbooks/demo_inputs.yml", {"demo_dir": str(demo), "demo_kubeconfig": kubeconfig}, tmp_path)
    assert run.rc == 0, run.output[-4000:]
    assert (demo / "vars.yml").stat().st_mode & 0o077 == 0
    assert (demo / "tls.key").stat().st_mode & 0o077 == 0
    variables = yaml.safe_load((demo / "vars.yml").read_text())
    variables["devpi_secrets_namespace"] = namespace
    # Running it again keeps the inputs (and so the stand-in client secret).
    again = run_playbook("playbooks/demo_inputs.yml", {"demo_dir": str(demo), "demo_kubeconfig": kubeconfig}, tmp_path)
    assert again.rc == 0 and again.recap["changed"] == 0, again.output[-4000:]

    boot = run_playbook("playbooks/bootstrap_example.yml", variables, tmp_path)
    assert boot.rc == 0, boot.output[-4000:]
    assert set(read_secrets(kubeconfig, namespace)) == set(SECRET_NAMES)
    assert {item["name"]: item["action"] for item in boot.report} == dict.fromkeys(SECRET_NAMES, "created")


def test_role_included_in_a_loop_over_namespaces(kubeconfig, namespace, inputs, tmp_path):
    """A bootstrap play that loops include_role over namespaces with the default loop variable `item`, which the
    role's own loops must not shadow: the first namespace holds an Opaque devpi-tls to replace (a loop of the role
    that uses devpi_secrets_namespace), the second is prepared already and gets no write."""
    prepared = namespace + "-b"
    assert run_site(kubeconfig, prepared, inputs).rc == 0
    kubectl("create", "namespace", namespace, kubeconfig=kubeconfig)
    create_opaque_tls(kubeconfig, namespace, inputs)
    out = tmp_path / "reports.json"
    play = looped_include_play([namespace, prepared], out)
    (tmp_path / "twice.yml").write_text(yaml.safe_dump(play, sort_keys=False))
    variables = dict(inputs.vars(kubeconfig, "unused"), devpi_secrets_replace_wrong_type=True)
    variables.pop("devpi_secrets_namespace")
    before = api_writes(kubeconfig)
    try:
        run = run_playbook(str(tmp_path / "twice.yml"), variables, tmp_path)
        assert run.rc == 0, run.output[-4000:]
        writes = writes_between(before, api_writes(kubeconfig))
        # The first namespace: devpi-tls deleted and created again with its type, the other four created; the
        # prepared one: nothing.
        assert writes == {("DELETE", "secrets"): 1, ("POST", "secrets"): len(SECRET_NAMES)}, writes
        secrets = read_secrets(kubeconfig, namespace)
        assert set(secrets) == set(SECRET_NAMES) and secrets["devpi-tls"]["type"] == "kubernetes.io/tls"
        last = json.loads(out.read_text())
        assert {item["name"]: item["action"] for item in last["report"]} == dict.fromkeys(SECRET_NAMES, "kept")
    finally:
        delete_namespace(prepared, kubeconfig=kubeconfig, timeout=120)
