"""Concurrency: five site.yml runs on an empty namespace, forced to race.

Without help the runs mostly serialise (each takes a few seconds to start), and a test that passes when they do
proves nothing. Here every run stops at its write task until all five have reached it (a barrier run by the test
callback hardening_hooks), so all five read an empty namespace and then create the same Secrets at once.

What must hold: each Secret is created exactly once (201) and the create guard refused the others (POST 409 or
PATCH 422 - observed, not assumed); every run ends well or names the Secret another run changed under it; the
Secrets hold one coherent set of values (the password verifies the hash in the cluster); a re-run changes nothing.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from hardening_support import delta, env_with_callback, writes_by_code

from helpers.role_tasks import WRITE_THE_SECRETS
from helpers.secret_data import dec, htpasswd_verifies
from helpers.site import CLIENT_SECRET, REPO, SECRET_NAMES, make_inputs, read_secrets, run_site

pytestmark = pytest.mark.integration
RUNS = 5
BARRIER = textwrap.dedent(
    """
    import os, sys, time
    folder, runs = sys.argv[1], int(sys.argv[2])
    open(os.path.join(folder, str(os.getpid())), "w").close()
    deadline = time.monotonic() + 120
    while len(os.listdir(folder)) < runs and time.monotonic() < deadline:
        time.sleep(0.05)
    """
)


def test_five_runs_forced_to_race(kubeconfig, namespace, tmp_path):
    inputs = make_inputs(tmp_path)
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    before = writes_by_code(kubeconfig)
    t0 = time.monotonic()
    procs = []
    for i in range(RUNS):
        vars_file = tmp_path / f"vars-{i}.json"
        vars_file.write_text(json.dumps(inputs.vars(kubeconfig, namespace)))
        vars_file.chmod(0o600)
        env = env_with_callback(
            HARDENING_HOOK_TASK=WRITE_THE_SECRETS,
            HARDENING_HOOK_CMDS=json.dumps([[sys.executable, "-c", BARRIER, str(barrier), str(RUNS)]]),
            DEVPI_CAPTURE_FILE=str(tmp_path / f"capture-{i}.json"),
        )
        cmd = [str(Path(sys.executable).parent / "ansible-playbook"), str(REPO / "site.yml"), "-e", f"@{vars_file}"]
        procs.append(
            subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        )
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    elapsed = time.monotonic() - t0
    writes = delta(before, writes_by_code(kubeconfig))
    rcs = [p.returncode for p in procs]
    reports = [json.loads((tmp_path / f"capture-{i}.json").read_text())["localhost"]["report"] for i in range(RUNS)]
    created = sum(item["action"] == "created" for report in reports for item in report)
    raced = sum("concurrent run" in item.get("note", "") for report in reports for item in report)
    print(
        f"\n[hardening] concurrency: {RUNS} runs forced to race, rc={rcs}, {elapsed:.0f}s; writes (verb, resource, "
        f"code): {writes}; reported created: {created}, reported as created by a concurrent run: {raced}"
    )
    assert len(list(barrier.iterdir())) == RUNS, "not every run reached the barrier"
    assert writes.get(("POST", "secrets", "201"), 0) == len(SECRET_NAMES), writes
    guard = writes.get(("POST", "secrets", "409"), 0) + writes.get(("PATCH", "secrets", "422"), 0)
    assert guard >= 1, f"no create lost: the runs did not race ({writes})"
    assert created == len(SECRET_NAMES), f"{created} 'created' reported for {len(SECRET_NAMES)} creates"
    assert raced >= 1
    for rc, out in zip(rcs, outputs):
        if rc != 0:  # a second-pass update that met another run's: named, with what to do
            assert "changed by someone else after this run read it" in out and "run again" in out, out[-3000:]
    assert rcs.count(0) >= 1

    secrets = read_secrets(kubeconfig, namespace)
    assert set(secrets) == set(SECRET_NAMES)
    assert htpasswd_verifies(dec(secrets[CLIENT_SECRET], "password"), dec(secrets["devpi-basic-auth"], "auth"))
    cookie = base64.b64decode(secrets["devpi-oauth2-proxy-secret"]["data"]["cookie-secret"])
    assert len(base64.urlsafe_b64decode(cookie)) == 32
    assert len(base64.b64decode(base64.b64decode(secrets["devpi-secret"]["data"]["secret"]))) == 32
    again = run_site(kubeconfig, namespace, inputs)
    assert again.rc == 0 and again.recap["changed"] == 0, again.output[-3000:]
