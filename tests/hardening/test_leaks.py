"""Leaks: no secret value in the output of -vvv --diff runs, in object metadata, or in files left on the control node.

One namespace goes through check mode, first creation, re-run, rotation of every generated Secret, an update of the
user-supplied values (client secret, a given password) and a failing run (bad input). The values are read back from
the cluster after each step and searched, plain and base64, in every run's stdout/stderr, together with every value
each run generated or meant to write (captured by the test callback, so also those of check mode and of the failing
run, which never reached the cluster). The runs use a fresh
HOME/TMPDIR and ANSIBLE_LOCAL_TEMP/ANSIBLE_REMOTE_TEMP; every file left there or in the work dir (other than the vars
files the test wrote and the input key) is searched too, also for the key and certificates of the kubeconfig (the
kubernetes client writes inline ones to temporary files). (Write failures are covered in test_faults.py, which runs
its failing runs at -vvv and searches them the same way.)
"""

from __future__ import annotations

import secrets

import pytest
from hardening_support import (
    find_leaks,
    isolated_env,
    kubeconfig_material,
    metadata_findings,
    scan_files,
    secret_values,
)

from helpers.site import read_secrets, run_site

pytestmark = pytest.mark.integration


def test_no_value_in_output_metadata_or_files(kubeconfig, namespace, tmp_path):
    from helpers.site import make_inputs

    inputs = make_inputs(tmp_path / "inputs")
    work = tmp_path / "work"
    env, temp_dirs = isolated_env(tmp_path / "env")
    given_password = "given-" + secrets.token_urlsafe(30)
    new_client_secret = secrets.token_urlsafe(24)
    steps = [
        ("check mode", ("--check",), {}),
        ("first run", (), {}),
        ("re-run", (), {}),
        ("rotate all", (), {"devpi_secrets_rotate": "all"}),
        (
            "update given values",
            (),
            {
                "devpi_secrets_basic_auth_password": given_password,
                "devpi_secrets_oauth2_client_secret": new_client_secret,
            },
        ),
        (
            "bad input",
            (),
            {
                "devpi_secrets_basic_auth_password": given_password,
                "devpi_secrets_oauth2_client_secret": new_client_secret,
                "devpi_secrets_basic_auth_cost": 3,
            },
        ),
    ]
    needles: dict[str, str] = {}
    runs = []
    for label, args, extra in steps:
        run = run_site(kubeconfig, namespace, inputs, "-vvv", "--diff", *args, extra=extra, workdir=work, env=env)
        runs.append((label, run))
        if label != "bad input":
            assert run.rc == 0, f"{label}: {run.output[-4000:]}"
        else:
            assert run.rc != 0
        secrets_now = read_secrets(kubeconfig, namespace)
        for k, v in secret_values(secrets_now).items():
            needles.setdefault(f"{k} [{label}]", v)
        # Also what the run made or meant to write but that never reached the cluster (check mode, the bad input
        # run's plan): the test callback captures it from the role's variables.
        for i, value in enumerate(v for v in run.values if len(v) >= 12):
            needles.setdefault(f"made by the run #{i} [{label}]", value)
    needles.update({f"input {k}": v for k, v in secret_values({"given": _given(inputs, given_password)}).items()})
    needles["client secret (input)"] = inputs.client_secret
    needles["client secret (updated input)"] = new_client_secret
    # The kubeconfig's inline key and certificates: the kubernetes client writes them to temporary files.
    needles.update(kubeconfig_material(kubeconfig))

    output_leaks = {label: find_leaks(run.output, needles) for label, run in runs}
    output_leaks = {k: v for k, v in output_leaks.items() if v}
    meta = metadata_findings(kubeconfig, namespace, needles)
    exclude = {p.resolve() for p in work.glob("vars-*.json")} | {inputs.key_file.resolve()}
    files = scan_files([*temp_dirs, work, tmp_path / "inputs"], needles, exclude)
    distinct = set(needles.values())
    print(
        f"\n[hardening] leaks: {len(runs)} runs at -vvv --diff searched for {len(distinct)} distinct value forms; "
        f"runs with a value in their output: {len(output_leaks)} {output_leaks or ''}; "
        f"metadata findings: {meta or 'none'}; files holding a value: {files or 'none'}"
    )
    assert output_leaks == {}
    assert meta == []
    assert files == []


def _given(inputs, password: str) -> dict:
    """A pseudo-Secret holding the inputs, to derive the same needle forms from them."""
    import base64

    def b(s: str) -> str:
        return base64.b64encode(s.encode()).decode()

    return {
        "data": {
            "tls.key": b(inputs.key_file.read_text()),
            "client-secret": b(inputs.client_secret),
            "password": b(password),
        }
    }
