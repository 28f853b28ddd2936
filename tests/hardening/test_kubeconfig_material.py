"""No key material of the kubeconfig left on disk: the `kubernetes` client, given inline `client-key-data`,
`client-certificate-data` and `certificate-authority-data`, writes them to temporary files that it removes only at
interpreter exit - which Ansible's forked workers never reach.

Each run uses a fresh TMPDIR, ANSIBLE_LOCAL_TEMP and ANSIBLE_REMOTE_TEMP (isolated_env); afterwards no file there
may hold the key or a certificate of the kubeconfig, as base64 or as a PEM body line. A first run (the read lookup
and the write module), a re-run (the read alone), and a run killed with SIGKILL right after the read (the hook
callback kills ansible-playbook when the check after the plan step starts, so the read's worker has run and nothing
cleans up after it).
"""

from __future__ import annotations

import json

import pytest
from hardening_support import env_with_callback, isolated_env, kubeconfig_material, scan_files

from helpers.role_tasks import CHECK_THE_PLAN
from helpers.site import make_inputs, run_site

pytestmark = pytest.mark.integration


def _material(kubeconfig: str) -> dict[str, str]:
    needles = kubeconfig_material(kubeconfig)
    if not any("client-key-data" in label for label in needles):
        pytest.skip(f"the test kubeconfig {kubeconfig} has no inline client-key-data (nothing would be written)")
    return needles


def test_runs_leave_no_kubeconfig_material_in_temp_dirs(kubeconfig, namespace, tmp_path):
    needles = _material(kubeconfig)
    inputs = make_inputs(tmp_path / "inputs")
    env, temp_dirs = isolated_env(tmp_path / "env")
    first = run_site(kubeconfig, namespace, inputs, env=env, workdir=tmp_path / "work")
    assert first.rc == 0, first.output[-3000:]
    after_first = scan_files(temp_dirs, needles)
    rerun = run_site(kubeconfig, namespace, inputs, env=env, workdir=tmp_path / "work")
    assert rerun.rc == 0, rerun.output[-3000:]
    assert rerun.recap.get("changed") == 0
    after_rerun = scan_files(temp_dirs, needles)
    print(
        f"\n[hardening] kubeconfig material ({len(needles)} forms) in temp files: after the first run "
        f"{len(after_first)} {after_first or ''}; after the re-run {len(after_rerun)} {after_rerun or ''}"
    )
    assert after_first == []
    assert after_rerun == []


def test_killed_run_leaves_no_kubeconfig_material_in_temp_dirs(kubeconfig, namespace, tmp_path):
    needles = _material(kubeconfig)
    inputs = make_inputs(tmp_path / "inputs")
    base_env, temp_dirs = isolated_env(tmp_path / "env")
    # Run by the callback inside ansible-playbook when the check after the plan step starts: the read is done, nothing
    # written yet.
    kill = ["sh", "-c", "kill -KILL $PPID"]
    env = env_with_callback(
        base_env,
        HARDENING_HOOK_TASK=CHECK_THE_PLAN,
        HARDENING_HOOK_CMDS=json.dumps([kill]),
    )
    run = run_site(kubeconfig, namespace, inputs, env=env, workdir=tmp_path / "work")
    found = scan_files(temp_dirs, needles)
    print(f"\n[hardening] killed run: rc={run.rc}; kubeconfig material in temp files: {len(found)} {found or ''}")
    assert run.rc == -9  # killed by the hook, so the read ran and the run never reached its end
    assert found == []
