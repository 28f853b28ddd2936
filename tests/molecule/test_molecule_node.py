"""molecule's node scenario (molecule/node): the role on the local cluster with a real node, verified from inside a
pod that mounts every Secret. Needs what the node needs (root, cgroup v1: tools/node.py host_problems), as
tests/node does; the images come from tools/images.py (`make images`).

One node per host: the scenario runs once for the whole sequence (test_molecule_node_scenario), then once more,
step by step, for the corrupted Secrets that its verify must refuse.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import pytest

from helpers.kube import REPO, kubectl, kubectl_json
from helpers.tools import node, pki

pytestmark = pytest.mark.skipif(
    bool(node.host_problems()), reason="; ".join(node.host_problems()) or "node needs root and cgroup v1"
)

POD = "devpi-secrets-check"  # molecule/node/verify.yml


def molecule(step: str, ephemeral: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """`molecule <step> -s node` with its ephemeral folder (the cluster's state dir is <ephemeral>/cluster)."""
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "MOLECULE_EPHEMERAL_DIRECTORY": str(ephemeral),
        "NO_COLOR": "1",
    }
    return subprocess.run(
        ["molecule", step, "-s", "node", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def tail(run: subprocess.CompletedProcess) -> str:
    return run.stdout[-3000:] + run.stderr[-8000:]


def ours(ephemeral: Path) -> list[int]:
    """Processes of the scenario's cluster: a path in its folder on the command line, or in the node's cgroups."""
    mine = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            cgroups = Path(f"/proc/{pid}/cgroup").read_text()
        except OSError:
            continue
        if str(ephemeral) in cmd or f"/{node.CGROUP_NAME}" in cgroups:
            mine.append(int(pid))
    return mine


def footprint(ephemeral: Path) -> dict:
    snap = node.host_snapshot()
    roots = (str(ephemeral), "/run/containerd", "/run/netns", "/var/lib/kubelet")
    snap["mounts"] = [m for m in snap["mounts"] if m.startswith(roots)]
    snap["processes"] = ours(ephemeral)
    return snap


@pytest.fixture
def short_dir():
    """A folder with a short path: kubelet's unix sockets live under <ephemeral>/cluster/node (at most 107 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="molnode.", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_molecule_node_scenario(short_dir):
    """`molecule test -s node` exits 0: create (cluster with a node), prepare, converge, idempotence (a second
    converge changes nothing), verify (the pod that mounts every Secret exits 0), destroy; and destroy leaves no
    process, mount, interface, cgroup, iptables rule, sysctl or host folder of the node behind."""
    ephemeral = short_dir
    before = footprint(ephemeral)
    t0 = time.monotonic()
    run = molecule("test", ephemeral)
    print(f"molecule test -s node: {time.monotonic() - t0:.1f}s")
    assert run.returncode == 0, tail(run)
    after = footprint(ephemeral)
    for key in ("processes", "links", "mounts", "cgroups", "iptables", "sysctls", "host_paths"):
        assert after[key] == before[key], f"{key}: before {before[key]!r}, after destroy {after[key]!r}"


@pytest.fixture(scope="module")
def converged():
    """The scenario created, prepared and converged (not verified); destroyed at the end of the module."""
    ephemeral = Path(tempfile.mkdtemp(prefix="molnode.", dir="/tmp"))
    try:
        for step in ("create", "prepare", "converge"):
            t0 = time.monotonic()
            run = molecule(step, ephemeral)
            print(f"molecule {step} -s node: {time.monotonic() - t0:.1f}s")
            assert run.returncode == 0, tail(run)
        yield ephemeral / "cluster" / "kubeconfig"
    finally:
        down = molecule("destroy", ephemeral)
        assert down.returncode == 0, tail(down)
        assert ours(ephemeral) == []
        shutil.rmtree(ephemeral, ignore_errors=True)


def verify(ephemeral_kubeconfig: Path) -> tuple[int, int]:
    """`molecule verify -s node`: its exit code and the check pod's (the container's) exit code."""
    t0 = time.monotonic()
    run = molecule("verify", ephemeral_kubeconfig.parent.parent)
    pod = kubectl_json("-n", "devpi", "get", "pod", POD, kubeconfig=ephemeral_kubeconfig)
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    started = datetime.fromisoformat(pod["metadata"]["creationTimestamp"].replace("Z", "+00:00"))
    finished = datetime.fromisoformat(terminated["finishedAt"].replace("Z", "+00:00"))
    print(
        f"molecule verify -s node: {time.monotonic() - t0:.1f}s (pod created to finished: "
        f"{(finished - started).total_seconds():.0f}s), rc {run.returncode}, pod exit {terminated['exitCode']}"
    )
    return run.returncode, terminated["exitCode"]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _other_key() -> str:
    return b64(pki.key_pem(pki.new_key("ec")))


# Secret, key, a wrong value (the Secret's data, base64) that the role would never write
CORRUPTIONS = {
    "cookie-secret of 31 bytes": (
        "devpi-oauth2-proxy-secret",
        "cookie-secret",
        lambda: b64(base64.urlsafe_b64encode(os.urandom(31))),
    ),
    # 44 characters that devpi-server itself accepts (>= 32 bytes, varied): only the decoded length is wrong
    "devpi-secret of 31 bytes": ("devpi-secret", "secret", lambda: b64(base64.b64encode(os.urandom(31)))),
    "password the hash does not verify": (
        "devpi-basic-auth-client",
        "password",
        lambda: b64(secrets.token_urlsafe(24).encode()),
    ),
    "tls.key of another certificate": ("devpi-tls", "tls.key", _other_key),
}


@pytest.mark.parametrize("case", list(CORRUPTIONS))
def test_verify_fails_on_a_corrupted_secret(converged, case):
    """With one value corrupted after converge, verify fails (molecule rc != 0) because the pod's check failed
    (its container's exit code 1, read from the pod); the value is put back afterwards."""
    name, key, wrong = CORRUPTIONS[case]
    secret = kubectl_json("-n", "devpi", "get", "secret", name, kubeconfig=converged)
    good = secret["data"][key]
    secret["data"][key] = wrong()
    assert secret["data"][key] != good
    kubectl("replace", "-f", "-", kubeconfig=converged, input=json.dumps(secret))
    try:
        rc, pod_exit = verify(converged)
    finally:
        restored = kubectl_json("-n", "devpi", "get", "secret", name, kubeconfig=converged)
        restored["data"][key] = good
        kubectl("replace", "-f", "-", kubeconfig=converged, input=json.dumps(restored))
    assert rc != 0
    assert pod_exit == 1


def test_verify_passes_with_every_value_restored(converged):
    """After the corruptions above, each undone: the same verify passes (molecule rc 0, pod exit 0) -- each failure
    above came from its own corrupted value, not from the cluster."""
    assert verify(converged) == (0, 0)
