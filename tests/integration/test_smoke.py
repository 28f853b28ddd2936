"""The smoke set: the role's essential promises in four runs, quick enough for every ansible-core of the matrix.

tools/matrix.py runs this (with tests/unit) on each ansible-core minor that meta/runtime.yml admits; the full suite
runs it on the main one. First run (every Secret created), re-run (changed=0, no API write), a rotation (one
PATCH, only that Secret), a bad input (fails in validation naming the variable, no API write).
"""

from __future__ import annotations

import ansible
import pytest

from helpers.site import SECRET_NAMES, api_writes, data_of, read_secrets, run_site, writes_between

pytestmark = pytest.mark.integration


def test_first_run_rerun_rotation_and_bad_input(kubeconfig, namespace, inputs):
    print(f"\n[smoke] ansible-core {ansible.__version__}")
    writes0 = api_writes(kubeconfig)
    first = run_site(kubeconfig, namespace, inputs)
    assert first.rc == 0, first.output[-4000:]
    assert writes_between(writes0, api_writes(kubeconfig)) == {
        ("POST", "namespaces"): 1,
        ("POST", "secrets"): len(SECRET_NAMES),
    }
    assert {item["name"]: item["action"] for item in first.report} == dict.fromkeys(SECRET_NAMES, "created")
    before = data_of(read_secrets(kubeconfig, namespace))

    writes0 = api_writes(kubeconfig)
    again = run_site(kubeconfig, namespace, inputs)
    assert again.rc == 0 and again.recap["changed"] == 0, again.output[-4000:]
    assert writes_between(writes0, api_writes(kubeconfig)) == {}

    rotate = run_site(kubeconfig, namespace, inputs, extra={"devpi_secrets_rotate": ["devpi-secret"]})
    assert rotate.rc == 0 and rotate.recap["changed"] == 1, rotate.output[-4000:]
    after = data_of(read_secrets(kubeconfig, namespace))
    assert [n for n in SECRET_NAMES if after[n] != before[n]] == ["devpi-secret"]

    writes0 = api_writes(kubeconfig)
    bad = run_site(kubeconfig, namespace, inputs, extra={"devpi_secrets_basic_auth_user": "#pypi"})
    assert bad.rc != 0 and "devpi_secrets_basic_auth_user must not start with '#'" in bad.stdout, bad.output[-3000:]
    assert writes_between(writes0, api_writes(kubeconfig)) == {}
