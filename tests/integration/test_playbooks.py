"""The demo inputs playbook and the bootstrap example, as users run them."""

from __future__ import annotations

import pytest
import yaml

from helpers.site import SECRET_NAMES, read_secrets, run_playbook

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
