"""A stored value that Ansible's masking would corrupt is invalid: it is never handed to a no_log option.

Ansible masks every occurrence of a no_log value in all output. A cluster devpi-secret of `a` handed to random_b64 as
its `current` made every new draw that contains an `a` look masked: after 64 draws the run failed. Such a value is
not base64 of 32 bytes anyway: it is regenerated (with the warning of an invalid value), and the run succeeds.
"""

from __future__ import annotations

import base64
import json

import pytest

from helpers.kube import kubectl, kubectl_json
from helpers.site import make_inputs, run_site

pytestmark = pytest.mark.integration


def _set(kubeconfig: str, namespace: str, name: str, key: str, value: str) -> None:
    patch = {"data": {key: base64.b64encode(value.encode()).decode()}}
    kubectl("patch", "secret", name, "-n", namespace, "--type=merge", "-p", json.dumps(patch), kubeconfig=kubeconfig)


@pytest.mark.parametrize(
    ("name", "key", "value"),
    [
        ("devpi-secret", "secret", "a"),
        ("devpi-oauth2-proxy-secret", "cookie-secret", "A"),
        ("devpi-secret", "secret", "="),
    ],
)
def test_a_stored_value_too_short_to_mask_is_regenerated(kubeconfig, namespace, tmp_path, name, key, value):
    inputs = make_inputs(tmp_path)
    assert run_site(kubeconfig, namespace, inputs).rc == 0
    _set(kubeconfig, namespace, name, key, value)
    run = run_site(kubeconfig, namespace, inputs)
    assert run.rc == 0, run.output[-3000:]
    assert run.action(name) == "updated"
    assert [w for w in run.warnings if f"{name}/{key}" in w], run.warnings
    stored = base64.b64decode(kubectl_json("get", "secret", name, "-n", namespace, kubeconfig=kubeconfig)["data"][key])
    assert len(base64.urlsafe_b64decode(stored)) == 32
